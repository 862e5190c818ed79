"""The tokenizer interface the models use: strings -> fixed-length id tensors and back."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import torch
from torch import Tensor


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

    def __call__(self, texts: str | Sequence[str]) -> Tensor:
        """``texts`` -> LongTensor [B, context_length]."""
        if isinstance(texts, str):
            texts = [texts]
        rows = []
        for ids in self.encode_batch(list(texts)):
            seq = [self.sot_id, *ids, self.eot_id][:self.context_length]
            seq[-1] = self.eot_id
            rows.append(seq + [self.pad_id] * (self.context_length - len(seq)))
        return torch.tensor(rows, dtype=torch.long).view(len(rows), self.context_length)

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
