"""The tokenizer interface the models use: strings -> id tensors and back, and the real-token mask.

Padding is not a token of its own in every vocabulary: CLIP pads with id 0, which is also the token
of "!". So which positions are real is decided by the end token, never by the pad id: a position is
real up to and including the first end token (:func:`real_token_mask`).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import torch
from torch import Tensor


def real_token_mask(tokens: Tensor, eot_id: int) -> Tensor:
    """Bool [B, L]: True from the start up to and including each row's first ``eot_id``.

    A row without an end token (cut by a caller) is real everywhere."""
    is_end = tokens == eot_id
    has_end = is_end.any(dim=1, keepdim=True)
    first_end = is_end.int().argmax(dim=1, keepdim=True)
    pos = torch.arange(tokens.shape[1], device=tokens.device)[None]
    return (pos <= first_end) | ~has_end


class BaseTokenizer(ABC):
    """Start + sub-word ids + end, right-padded with ``pad_id`` to ``context_length``.

    A text longer than the context keeps its first ``context_length`` ids with the last one set
    to ``eot_id`` (open_clip's rule).
    """

    context_length: int
    pad_id: int
    sot_id: int
    eot_id: int

    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """Number of ids, special tokens included."""

    @abstractmethod
    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """Sub-word ids of each text, without start/end tokens."""

    @abstractmethod
    def decode(self, ids: Sequence[int]) -> str:
        """Ids -> text; start, end and pad tokens are dropped, decoding stops at the end token."""

    def token_ids(self, texts: str | Sequence[str]) -> list[list[int]]:
        """Start + ids + end of each text, unpadded, cut to ``context_length`` (last id: end)."""
        if isinstance(texts, str):
            texts = [texts]
        rows = []
        for ids in self.encode_batch(list(texts)):
            seq = [self.sot_id, *ids, self.eot_id][:self.context_length]
            seq[-1] = self.eot_id
            rows.append(seq)
        return rows

    def pad(self, rows: Sequence[Sequence[int] | Tensor], length: int | None = None) -> Tensor:
        """Right-pad id rows with ``pad_id`` to ``length`` (default: the longest row) -> [B, L],
        on the rows' device."""
        width = max((len(r) for r in rows), default=0) if length is None else length
        device = rows[0].device if rows and isinstance(rows[0], Tensor) else None
        out = torch.full((len(rows), width), self.pad_id, dtype=torch.long, device=device)
        for i, row in enumerate(rows):
            row = torch.as_tensor(row, dtype=torch.long, device=device)
            if row.numel() > width:
                raise ValueError(f'a row of {row.numel()} ids does not fit in {width} positions')
            out[i, :row.numel()] = row
        return out

    def __call__(self, texts: str | Sequence[str]) -> Tensor:
        """``texts`` -> LongTensor [B, context_length]."""
        return self.pad(self.token_ids(texts), self.context_length)

    def real_mask(self, tokens: Tensor) -> Tensor:
        """Bool [B, L] of the real positions of ``tokens`` (see :func:`real_token_mask`)."""
        return real_token_mask(tokens, self.eot_id)

    def to_meta(self) -> dict:
        """What rebuilds this tokenizer without its config's file, as plain data for a
        checkpoint's ``meta`` (``type`` and what :meth:`config_from_meta` needs)."""
        raise NotImplementedError(f'{type(self).__name__} cannot be stored in a checkpoint')

    @classmethod
    def file_available(cls, cfg: dict) -> bool:
        """Whether the file the config ``cfg`` names (or finds) exists."""
        raise NotImplementedError

    @classmethod
    def config_from_meta(cls, cfg: dict, meta: dict) -> dict:
        """``cfg`` changed to build the tokenizer that :meth:`to_meta` described."""
        raise NotImplementedError

    def num_tokens(self, text: str) -> int:
        """Length of ``text`` with start and end tokens, before truncation."""
        return len(self.encode_batch([text])[0]) + 2
