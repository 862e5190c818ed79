"""Transformer building blocks shared by the image encoder and the text decoder.

Blocks are pre-norm residual (``x + attn(ln_1(x))``, ``x + mlp(ln_2(x))``) and attend through
``torch.nn.functional.scaled_dot_product_attention``. Parameter names follow open_clip's
``ResidualAttentionBlock`` (``ln_1``, ``attn.in_proj_weight``, ``mlp.c_fc`` ...) so that the public
openMaMMUT checkpoint maps onto them one to one.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Attention(nn.Module):
    """Multi-head attention with a fused q|k|v input projection.

    ``in_proj_weight`` is ``[3 * C, C]`` with rows ordered q, k, v (as ``nn.MultiheadAttention``).
    """

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'width {dim} is not divisible by num_heads {num_heads}')
        self.num_heads = num_heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def _heads(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        return x.view(b, n, self.num_heads, c // self.num_heads).transpose(1, 2)

    def forward(self, x: Tensor, kv: Tensor | None = None, attn_mask: Tensor | None = None,
                is_causal: bool = False) -> Tensor:
        """Attend from ``x`` [B, L, C] to ``kv`` [B, S, C] (``x`` itself when None).

        ``attn_mask``: boolean, True where attention is allowed, broadcastable to [B, H, L, S].
        """
        if kv is None:
            q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
        else:
            c = x.shape[-1]
            w_q, w_kv = self.in_proj_weight.split([c, 2 * c])
            b_q, b_kv = self.in_proj_bias.split([c, 2 * c])
            q = F.linear(x, w_q, b_q)
            k, v = F.linear(kv, w_kv, b_kv).chunk(2, dim=-1)
        out = F.scaled_dot_product_attention(
            self._heads(q), self._heads(k), self._heads(v), attn_mask=attn_mask,
            is_causal=is_causal)
        b, _, n, _ = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, n, -1))


class Mlp(nn.Module):
    """Linear, GELU, Linear (``c_fc`` [hidden, C], ``c_proj`` [C, hidden])."""

    def __init__(self, dim: int, hidden: int, gelu_approximate: str = 'none') -> None:
        super().__init__()
        self.c_fc = nn.Linear(dim, hidden)
        self.gelu = nn.GELU(approximate=gelu_approximate)
        self.c_proj = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.c_proj(self.gelu(self.c_fc(x)))


class Block(nn.Module):
    """Pre-norm self-attention block: ``x + attn(ln_1(x))`` then ``x + mlp(ln_2(x))``."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, ln_eps: float = 1e-5,
                 gelu_approximate: str = 'none') -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim, eps=ln_eps)
        self.attn = Attention(dim, num_heads)
        self.ln_2 = nn.LayerNorm(dim, eps=ln_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), gelu_approximate)

    def forward(self, x: Tensor, attn_mask: Tensor | None = None,
                is_causal: bool = False) -> Tensor:
        """``x``: [B, L, C] -> [B, L, C]."""
        x = x + self.attn(self.ln_1(x), attn_mask=attn_mask, is_causal=is_causal)
        return x + self.mlp(self.ln_2(x))


class CrossAttentionBlock(nn.Module):
    """``x + attn(q=ln_1(x), kv=ln_1_kv(image))`` then ``x + mlp(ln_2(x))``."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, ln_eps: float = 1e-5,
                 gelu_approximate: str = 'none') -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim, eps=ln_eps)
        self.ln_1_kv = nn.LayerNorm(dim, eps=ln_eps)
        self.attn = Attention(dim, num_heads)
        self.ln_2 = nn.LayerNorm(dim, eps=ln_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), gelu_approximate)

    def forward(self, x: Tensor, image_tokens: Tensor) -> Tensor:
        """``x``: [B, L, C]; ``image_tokens``: [B, S, C] -> [B, L, C]."""
        x = x + self.attn(self.ln_1(x), kv=self.ln_1_kv(image_tokens))
        return x + self.mlp(self.ln_2(x))
