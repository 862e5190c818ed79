"""Byte-level BPE trained on the captions at hand, backed by Hugging Face ``tokenizers``.

Vocabulary choice: byte-level BPE, so every unicode string is encodable (the 256 byte symbols are
always in the alphabet; there is no unknown token). The number of merges, hence the vocabulary
size, is chosen per corpus: a few thousand for toy caption sets, tens of thousands for web-scale
captions. Cleaning is NFC, whitespace runs collapsed to one space, strip, lowercase. Special
tokens have fixed ids: ``<pad>`` = 0, ``<start>`` = 1, ``<end>`` = 2. The released openMaMMUT
weights use the CLIP vocabulary instead (:class:`mammut_det.text.clip.CLIPTokenizer`).

Create a vocabulary once with :meth:`BPETokenizer.train` (it saves a tokenizer JSON), then load it
with ``BPETokenizer(path)``, e.g. from a config: ``dict(type='BPETokenizer', path=...)``. The
JSON's text can also be given as ``content`` (a checkpoint's ``meta['tokenizers']`` stores it, so
that a model can be run without the file).
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from ..registry import TOKENIZERS
from .base import BaseTokenizer

PAD, START, END = '<pad>', '<start>', '<end>'
SPECIAL_TOKENS = (PAD, START, END)


def _empty_tokenizer() -> Tokenizer:
    """An untrained byte-level BPE pipeline with the cleaning described in the module docstring."""
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.Sequence([
        normalizers.NFC(),
        normalizers.Replace(Regex(r'\s+'), ' '),
        normalizers.Strip(),
        normalizers.Lowercase(),
    ])
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    return tok


@TOKENIZERS.register_module()
class BPETokenizer(BaseTokenizer):
    """Byte-level BPE loaded from a saved ``tokenizers`` JSON file.

    Args:
        path: the tokenizer JSON written by :meth:`train`.
        context_length: length of the id tensors :meth:`__call__` returns.
        content: the text of that JSON, used instead of ``path``.
    """

    def __init__(self, path: str | None = None, context_length: int = 77,
                 content: str | None = None) -> None:
        if content is None:
            if path is None or not os.path.isfile(path):
                raise FileNotFoundError(
                    f'BPETokenizer: no tokenizer file at {path!r}. Create one with '
                    f'BPETokenizer.train(texts, vocab_size, save_path={path!r}).')
            with open(path, encoding='utf-8') as f:
                content = f.read()
        self._content = content
        self._tok = Tokenizer.from_str(content)
        self._init_specials(path or 'the given content')
        self.context_length = context_length
        self.path = path

    def to_meta(self) -> dict:
        """``type`` and ``content`` (the tokenizer JSON's text)."""
        return dict(type='BPETokenizer', content=self._content)

    @classmethod
    def file_available(cls, cfg: dict) -> bool:
        return cfg.get('content') is not None or (cfg.get('path') is not None
                                                   and os.path.isfile(cfg['path']))

    @classmethod
    def config_from_meta(cls, cfg: dict, meta: dict) -> dict:
        return {**cfg, 'path': None, 'content': meta['content']}

    def _init_specials(self, path: str) -> None:
        ids = [self._tok.token_to_id(t) for t in SPECIAL_TOKENS]
        if ids != [0, 1, 2]:
            raise ValueError(
                f'BPETokenizer: {path!r} must hold {SPECIAL_TOKENS} with ids (0, 1, 2), found '
                f'{ids}; train it with BPETokenizer.train.')
        self.pad_id, self.sot_id, self.eot_id = ids
        # a caption that literally contains '<end>' is text, not the end token
        self._tok.encode_special_tokens = True

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int, save_path: str,
              context_length: int = 77) -> BPETokenizer:
        """Learn merges from ``texts`` up to ``vocab_size`` ids (specials included), save the
        tokenizer JSON to ``save_path`` and return the loaded tokenizer."""
        tok = _empty_tokenizer()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS),
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
        tok.train_from_iterator(texts, trainer=trainer)
        directory = os.path.dirname(os.path.abspath(save_path))
        os.makedirs(directory, exist_ok=True)
        tok.save(save_path)
        return cls(save_path, context_length=context_length)

    @property
    def vocab_size(self) -> int:
        return self._tok.get_vocab_size(with_added_tokens=True)

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        encodings = self._tok.encode_batch_fast(list(texts), add_special_tokens=False)
        return [e.ids for e in encodings]

    def decode(self, ids: Sequence[int]) -> str:
        ids = [int(i) for i in ids]
        if self.eot_id in ids:
            ids = ids[:ids.index(self.eot_id)]
        return self._tok.decode(ids, skip_special_tokens=True)
