"""Transformer building blocks shared by the image encoder and the text decoder.

Blocks are pre-norm residual (``x + attn(ln_1(x))``, ``x + mlp(ln_2(x))``) and attend through
``torch.nn.functional.scaled_dot_product_attention``. Parameter names follow open_clip's
``ResidualAttentionBlock`` (``ln_1``, ``attn.in_proj_weight``, ``mlp.c_fc`` ...) so that the public
openMaMMUT checkpoint maps onto them one to one.
"""
from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class KeyValueCache(Protocol):
    """What self-attention needs of a key/value cache (e.g.
    :class:`mammut_det.generation.KVCache`)."""

    def update(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Store the new keys and values [B, H, L, D]; return those of all positions so far."""


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

    def project_kv(self, kv: Tensor) -> tuple[Tensor, Tensor]:
        """Keys and values of ``kv`` [B, S, C] for cross-attention, each [B, H, S, C / H]."""
        c = kv.shape[-1]
        k, v = F.linear(kv, self.in_proj_weight[c:], self.in_proj_bias[c:]).chunk(2, dim=-1)
        return self._heads(k), self._heads(v)

    def forward(self, x: Tensor, kv: Tensor | tuple[Tensor, Tensor] | None = None,
                attn_mask: Tensor | None = None, is_causal: bool = False,
                cache: KeyValueCache | None = None) -> Tensor:
        """Attend from ``x`` [B, L, C] to ``kv`` [B, S, C] (``x`` itself when None).

        ``attn_mask``: boolean, True where attention is allowed, broadcastable to [B, H, L, S].
        ``kv`` may also be keys and values already projected by :meth:`project_kv` for B' images,
        B' dividing B: each run of B / B' consecutive rows of ``x`` (beams) attends to one image.
        ``cache`` (self-attention only) receives this call's keys and values and returns those
        of every position so far, which are attended to instead.
        """
        if kv is None:
            q, k, v = (self._heads(t) for t in F.linear(
                x, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1))
            if cache is not None:
                k, v = cache.update(k, v)
        else:
            c = x.shape[-1]
            q = self._heads(F.linear(x, self.in_proj_weight[:c], self.in_proj_bias[:c]))
            k, v = kv if isinstance(kv, tuple) else self.project_kv(kv)
        b, h, n, d = q.shape
        group, rest = divmod(b, k.shape[0])
        if rest:
            raise ValueError(f'{b} query rows cannot share the keys of {k.shape[0]} rows')
        if group > 1:  # rows that share an image attend to it together, as extra queries
            q = q.reshape(k.shape[0], group, h, n, d).transpose(1, 2).reshape(-1, h, group * n, d)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal)
        if group > 1:
            out = out.reshape(-1, h, group, n, d).transpose(1, 2).reshape(b, h, n, d)
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

    def forward(self, x: Tensor, attn_mask: Tensor | None = None, is_causal: bool = False,
                cache: KeyValueCache | None = None) -> Tensor:
        """``x``: [B, L, C] -> [B, L, C]; ``cache``: see :meth:`Attention.forward`."""
        x = x + self.attn(self.ln_1(x), attn_mask=attn_mask, is_causal=is_causal, cache=cache)
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

    def image_kv(self, image_tokens: Tensor) -> tuple[Tensor, Tensor]:
        """Keys and values of ``image_tokens`` [B, S, C], each [B, H, S, C / H]: computed once per
        image when decoding, then given to :meth:`forward` in place of the tokens."""
        return self.attn.project_kv(self.ln_1_kv(image_tokens))

    def forward(self, x: Tensor, image_tokens: Tensor | tuple[Tensor, Tensor]) -> Tensor:
        """``x``: [B, L, C]; ``image_tokens``: [B, S, C] or their :meth:`image_kv` (for B' images,
        B' dividing B, see :meth:`Attention.forward`) -> [B, L, C]."""
        kv = image_tokens if isinstance(image_tokens, tuple) else self.ln_1_kv(image_tokens)
        x = x + self.attn(self.ln_1(x), kv=kv)
        return x + self.mlp(self.ln_2(x))
