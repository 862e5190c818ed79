"""Next-token logits for decoding, one step at a time, with or without a key/value cache.

A stepper holds the state of N rows being decoded (the prefixes so far, for B images; N is a
multiple of B and each run of N / B consecutive rows belongs to one image, as beams do):

- ``start(prefixes)`` feeds each row's prefix (start token + prompt ids; lengths may differ) and
  returns the logits of the token after it, [B, V];
- ``reorder(index)`` keeps the rows ``index`` [N'] (beams taken up, or B rows spread to N);
- ``step(tokens)`` appends one token per row [N] and returns the logits of the next, [N, V].

:class:`CachedStepper` runs only the new token through the decoder
(:meth:`~mammut_det.models.TextDecoder.forward_cached`): self-attention keys and values of earlier
positions come from a :class:`KVCache` per layer, the image's cross-attention keys and values are
computed once per image and shared by its rows. :class:`FullStepper` reruns the whole training
pass (:meth:`~mammut_det.models.TextDecoder.forward_generative`) over every row each step: the
reference the cached path must equal, and the baseline of ``benchmarks/generation_speed.py``.

Prefixes of different lengths are right-padded. The training pass is causal, so a row's last real
position never sees the pads after it; in the cached path the pad columns stay in the cache but
are masked out as keys, and each row's generated tokens take the positions right after its own
prefix.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..models.text_decoder import TextDecoder


def pad_prefixes(prefixes: Sequence[Sequence[int]], pad_id: int,
                 device: torch.device) -> tuple[Tensor, Tensor]:
    """Id rows -> right-padded tokens [B, P] and their lengths [B]."""
    if not prefixes or min(len(p) for p in prefixes) < 1:
        raise ValueError('every prefix needs at least the start token')
    lengths = torch.tensor([len(p) for p in prefixes], device=device)
    tokens = torch.full((len(prefixes), int(lengths.max())), pad_id, dtype=torch.long,
                        device=device)
    for i, p in enumerate(prefixes):
        tokens[i, :len(p)] = torch.as_tensor(list(p), dtype=torch.long)
    return tokens, lengths


class KVCache:
    """Keys and values of one self-attention layer for up to ``max_len`` positions, in buffers
    [N, H, max_len, D] allocated at the first :meth:`update`."""

    def __init__(self, max_len: int) -> None:
        self.max_len = max_len
        self.length = 0
        self.k: Tensor | None = None
        self.v: Tensor | None = None

    def update(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Append ``k``, ``v`` [N, H, L, D]; return the keys and values of every position so
        far, [N, H, length, D]."""
        if self.k is None:
            n, h, _, d = k.shape
            self.k = k.new_empty(n, h, self.max_len, d)
            self.v = v.new_empty(n, h, self.max_len, d)
        end = self.length + k.shape[2]
        if end > self.max_len:
            raise RuntimeError(f'KVCache holds {self.max_len} positions, {end} were given')
        self.k[:, :, self.length:end] = k
        self.v[:, :, self.length:end] = v
        self.length = end
        return self.k[:, :, :end], self.v[:, :, :end]

    def reorder(self, index: Tensor) -> None:
        """Keep the rows ``index`` [N'] (in that order)."""
        if self.k is not None:
            self.k = self.k.index_select(0, index)
            self.v = self.v.index_select(0, index)


class CachedStepper:
    """Decoding with a key/value cache (module docstring).

    Args:
        decoder: the text decoder.
        image_tokens: the decoder's cross-attention inputs [B, S, width] (after the model's
            image-token map).
        max_new_tokens: tokens that will be appended after the longest prefix.
        pad_id: id written in the pad columns of shorter prefixes.
    """

    def __init__(self, decoder: TextDecoder, image_tokens: Tensor, max_new_tokens: int,
                 pad_id: int) -> None:
        self.decoder = decoder
        self.cross_kv = decoder.cross_kv(image_tokens)
        self.max_new_tokens = max_new_tokens
        self.pad_id = pad_id
        self.caches: list[KVCache] = []
        self.key_valid: Tensor | None = None  # [N, positions so far] bool
        self.positions: Tensor | None = None  # [N] position of the next token

    def _logits(self, hidden: Tensor) -> Tensor:
        return self.decoder.lm_head(hidden)

    def start(self, prefixes: Sequence[Sequence[int]]) -> Tensor:
        tokens, lengths = pad_prefixes(prefixes, self.pad_id, self.cross_kv[0][0].device)
        b, p = tokens.shape
        self.caches = [KVCache(p + self.max_new_tokens) for _ in self.decoder.resblocks]
        pos = torch.arange(p, device=tokens.device)
        hidden = self.decoder.forward_cached(tokens, pos.expand(b, p), self.cross_kv,
                                             self.caches, is_causal=True)
        self.key_valid = pos[None] < lengths[:, None]
        self.positions = lengths
        return self._logits(hidden[torch.arange(b), lengths - 1])

    def reorder(self, index: Tensor) -> None:
        for cache in self.caches:
            cache.reorder(index)
        self.key_valid = self.key_valid.index_select(0, index)
        self.positions = self.positions.index_select(0, index)

    def step(self, tokens: Tensor) -> Tensor:
        n = tokens.shape[0]
        self.key_valid = torch.cat([self.key_valid, self.key_valid.new_ones(n, 1)], dim=1)
        hidden = self.decoder.forward_cached(tokens[:, None], self.positions[:, None],
                                             self.cross_kv, self.caches,
                                             attn_mask=self.key_valid[:, None, None, :])
        self.positions = self.positions + 1
        return self._logits(hidden[:, 0])


class FullStepper:
    """Decoding without a cache: every step reruns the training pass over the whole prefixes
    (and so projects the image tokens into keys and values again, per row). Arguments as
    :class:`CachedStepper`."""

    def __init__(self, decoder: TextDecoder, image_tokens: Tensor, max_new_tokens: int,
                 pad_id: int) -> None:
        self.decoder = decoder
        self.image_tokens = image_tokens
        self.max_new_tokens = max_new_tokens
        self.pad_id = pad_id
        self.tokens: Tensor | None = None  # [N, P + max_new_tokens], right-padded
        self.lengths: Tensor | None = None  # [N]

    def _logits(self) -> Tensor:
        width = int(self.lengths.max())
        hidden = self.decoder.forward_generative(self.tokens[:, :width], self.image_tokens)
        rows = torch.arange(hidden.shape[0], device=hidden.device)
        return self.decoder.lm_head(hidden[rows, self.lengths - 1])

    def start(self, prefixes: Sequence[Sequence[int]]) -> Tensor:
        tokens, self.lengths = pad_prefixes(prefixes, self.pad_id, self.image_tokens.device)
        self.tokens = torch.nn.functional.pad(tokens, (0, self.max_new_tokens),
                                              value=self.pad_id)
        return self._logits()

    def reorder(self, index: Tensor) -> None:
        self.tokens = self.tokens.index_select(0, index)
        self.lengths = self.lengths.index_select(0, index)
        group = index.shape[0] // self.image_tokens.shape[0]
        if group > 1:  # every row needs its image tokens: spread the images over their rows
            self.image_tokens = self.image_tokens.repeat_interleave(group, dim=0)

    def step(self, tokens: Tensor) -> Tensor:
        rows = torch.arange(tokens.shape[0], device=tokens.device)
        self.tokens[rows, self.lengths] = tokens
        self.lengths = self.lengths + 1
        return self._logits()

