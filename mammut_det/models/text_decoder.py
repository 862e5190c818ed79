"""The MaMMUT text decoder: one stack of layers run in two passes that share every weight."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from mmengine.model import BaseModule
from mmengine.registry import MODELS
from torch import Tensor, nn

from .checkpointing import checkpointed
from .layers import Block, CrossAttentionBlock, KeyValueCache


@MODELS.register_module()
class TextDecoder(BaseModule):
    """Decoder-only text model with cross-attention after every ``cross_attn_every``-th layer.

    Cross-attention block ``j`` follows self-attention layer ``j * cross_attn_every`` (layers
    0, 2, 4, ... for the default 2), so ``ceil(depth / cross_attn_every)`` blocks in all.

    Contrastive pass (:meth:`encode`): bidirectional, cross-attention off, so the text never sees
    the image; pooled over the sequence, then projected. Generative pass (:meth:`generate_logits`):
    causal, cross-attention on, LM head over the vocabulary; :meth:`forward_cached` is the same pass
    one step at a time with a key/value cache, for decoding (:mod:`mammut_det.generation`).

    Which positions are real is given by the caller as a mask (``valid`` [B, L], True up to and
    including the end token; :func:`mammut_det.text.real_token_mask`), never read from the pad id:
    CLIP's pad id 0 is also the token "!".

    Args:
        vocab_size, context_length, width, depth, num_heads, mlp_ratio: shape.
        embed_dim: contrastive feature size (``text_proj`` maps width to it).
        cross_attn_every: k, a cross-attention block after layers 0, k, 2k, ...
        pad_id: the id padding is filled with (the tokenizer's must match).
        pool: ``'masked_mean'`` (mean over real tokens, padding masked out of attention too) or
            ``'mean_all'`` (openMaMMUT: mean over every one of the ``context_length`` positions,
            pads attend and are attended; inputs must be padded to ``context_length``).
        text_proj: learn a contrastive projection (``False`` in openMaMMUT: width == embed_dim).
        ln_eps: LayerNorm epsilon.
        with_cp: activation checkpointing of each block of both passes in training.
    """

    def __init__(self, vocab_size: int = 49408, context_length: int = 77, width: int = 512,
                 depth: int = 12, num_heads: int = 8, mlp_ratio: float = 4.0,
                 embed_dim: int = 512, cross_attn_every: int = 2, pad_id: int = 0,
                 pool: str = 'masked_mean', text_proj: bool = True, ln_eps: float = 1e-5,
                 with_cp: bool = False, init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if pool not in ('masked_mean', 'mean_all'):
            raise ValueError(f"pool must be 'masked_mean' or 'mean_all', got {pool!r}")
        if not text_proj and embed_dim != width:
            raise ValueError(f'text_proj=False needs embed_dim == width ({embed_dim} != {width})')
        if cross_attn_every < 1:
            raise ValueError(f'cross_attn_every must be >= 1, got {cross_attn_every}')
        self.vocab_size = vocab_size
        self.context_length = context_length
        self.width = width
        self.embed_dim = embed_dim
        self.cross_attn_every = cross_attn_every
        self.pad_id = pad_id
        self.pool = pool
        self.with_cp = with_cp
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.positional_embedding = nn.Parameter(0.01 * torch.randn(context_length, width))
        self.resblocks = nn.ModuleList(
            Block(width, num_heads, mlp_ratio, ln_eps) for _ in range(depth))
        n_cross = (depth + cross_attn_every - 1) // cross_attn_every
        self.cross_attn = nn.ModuleList(
            CrossAttentionBlock(width, num_heads, mlp_ratio, ln_eps) for _ in range(n_cross))
        self.ln_final = nn.LayerNorm(width, eps=ln_eps)
        self.text_proj = nn.Linear(width, embed_dim, bias=False) if text_proj else None
        self.lm_head = nn.Linear(width, vocab_size, bias=False)
        nn.init.normal_(self.token_embedding.weight, std=0.02)

    @property
    def fixed_length(self) -> bool:
        """Whether inputs must be padded to ``context_length`` (``mean_all`` pooling)."""
        return self.pool == 'mean_all'

    def _embed(self, tokens: Tensor) -> Tensor:
        if tokens.shape[1] > self.context_length:
            raise ValueError(f'{tokens.shape[1]} tokens exceed the context length '
                             f'{self.context_length}')
        return self.token_embedding(tokens) + self.positional_embedding[:tokens.shape[1]]

    def forward_contrastive(self, tokens: Tensor, valid: Tensor | None = None) -> Tensor:
        """Contrastive pass hidden states: ``tokens`` [B, L], ``valid`` [B, L] bool -> [B, L,
        width] after ``ln_final``. Bidirectional (no causal mask), no cross-attention; with
        ``masked_mean`` pooling the positions outside ``valid`` are masked out as keys."""
        if self.fixed_length and tokens.shape[1] != self.context_length:
            raise ValueError(f'mean_all pooling needs tokens padded to {self.context_length} '
                             f'positions, got {tokens.shape[1]}')
        x = self._embed(tokens)
        attn_mask = None
        if not self.fixed_length:
            if valid is None:
                raise ValueError('masked_mean pooling needs the mask of real tokens (valid)')
            attn_mask = valid[:, None, None, :]
        cp = self.with_cp and self.training
        for blk in self.resblocks:
            x = checkpointed(blk, x, attn_mask=attn_mask, enabled=cp)
        return self.ln_final(x)

    def encode(self, tokens: Tensor, valid: Tensor | None = None) -> Tensor:
        """Contrastive pass: ``tokens`` [B, L] -> sequence feature [B, embed_dim] (unnormalised),
        the mean over the ``valid`` positions (``masked_mean``) or over all (``mean_all``)."""
        x = self.forward_contrastive(tokens, valid)
        if self.fixed_length:
            feat = x.mean(dim=1)
        else:
            w = valid.to(x.dtype).unsqueeze(-1)
            feat = (x * w).sum(dim=1) / w.sum(dim=1).clamp(min=1.0)
        return feat if self.text_proj is None else self.text_proj(feat)

    def forward_generative(self, tokens: Tensor, image_tokens: Tensor) -> Tensor:
        """Generative pass hidden states: ``tokens`` [B, L], ``image_tokens`` [B, S, width]
        -> [B, L, width] after ``ln_final``. Causal; cross-attends to every image token."""
        x = self._embed(tokens)
        cp = self.with_cp and self.training
        for i, blk in enumerate(self.resblocks):
            x = checkpointed(blk, x, is_causal=True, enabled=cp)
            if i % self.cross_attn_every == 0:
                x = checkpointed(self.cross_attn[i // self.cross_attn_every], x, image_tokens,
                                 enabled=cp)
        return self.ln_final(x)

    def cross_kv(self, image_tokens: Tensor) -> list[tuple[Tensor, Tensor]]:
        """Keys and values of ``image_tokens`` [B, S, width] for every cross-attention block
        (each [B, heads, S, width / heads]), computed once per image for decoding."""
        return [blk.image_kv(image_tokens) for blk in self.cross_attn]

    def forward_cached(self, tokens: Tensor, positions: Tensor,
                       cross_kv: list[tuple[Tensor, Tensor]], caches: Sequence[KeyValueCache],
                       attn_mask: Tensor | None = None, is_causal: bool = False) -> Tensor:
        """The generative pass over new tokens only, for decoding: ``tokens`` [B, L] at
        ``positions`` [B, L] -> hidden states [B, L, width] after ``ln_final``.

        Each self-attention layer ``i`` attends to the keys and values ``caches[i]`` holds (this
        call's are appended to it); ``attn_mask`` [B, 1, L, cached + L] (True: allowed) or
        ``is_causal`` (an empty cache) says which. Cross-attention uses ``cross_kv`` from
        :meth:`cross_kv` (for B' images, B' dividing B: runs of B / B' rows share an image).
        With empty caches and ``is_causal`` this equals :meth:`forward_generative`."""
        x = self.token_embedding(tokens) + self.positional_embedding[positions]
        for i, blk in enumerate(self.resblocks):
            x = blk(x, attn_mask=attn_mask, is_causal=is_causal, cache=caches[i])
            if i % self.cross_attn_every == 0:
                j = i // self.cross_attn_every
                x = self.cross_attn[j](x, cross_kv[j])
        return self.ln_final(x)

    def generate_logits(self, tokens: Tensor, image_tokens: Tensor) -> Tensor:
        """Generative pass: next-token logits [B, L, vocab_size]."""
        return self.lm_head(self.forward_generative(tokens, image_tokens))
