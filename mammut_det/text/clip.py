"""CLIP's byte-pair encoding with ids identical to open_clip's ``SimpleTokenizer``.

The openMaMMUT weights were trained with this tokenizer (see ``OPENMAMMUT.md``). The pipeline:
cleaning in Python (``ftfy.fix_text``, HTML-unescape twice, strip, collapse whitespace,
lowercase), CLIP's regex pre-tokenisation in Python (the ``regex`` module, as upstream), then the
byte-to-unicode map and the BPE merges (with ``</w>`` marking a word's last symbol) in the Rust
``tokenizers`` library: one call per batch for the words not yet in a word -> ids cache. A word
that is exactly ``<start_of_text>`` or ``<end_of_text>`` maps to its special id, as upstream does.
The pre-tokenisation stays in Python because the Rust regex engine's Unicode tables differ from
the ``regex`` module's for about 17,000 code points, which would change ids.

The vocabulary file ``bpe_simple_vocab_16e6.txt.gz`` is taken from ``path``, else from an
installed ``open_clip_torch`` distribution (found without importing ``open_clip``).
"""
from __future__ import annotations

import gzip
import hashlib
import html
import importlib.metadata
import importlib.util
import os
from collections.abc import Iterable, Sequence
from itertools import chain

import ftfy
import numpy as np
import regex
from tokenizers import Tokenizer, models, pre_tokenizers

from ..registry import TOKENIZERS
from .base import BaseTokenizer

VOCAB_FILE = 'bpe_simple_vocab_16e6.txt.gz'
NUM_MERGES = 49152 - 256 - 2
SOT, EOT = '<start_of_text>', '<end_of_text>'
PATTERN = regex.compile(
    SOT + '|' + EOT + r"""|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
    regex.IGNORECASE)
_PLAIN_ASCII = regex.compile(r'[\t\n\r\x20-\x25\x27-\x7e]*')


def bytes_to_unicode() -> dict[int, str]:
    """CLIP's (and GPT-2's) reversible map from the 256 byte values to printable characters."""
    bs = [*range(ord('!'), ord('~') + 1), *range(ord('¡'), ord('¬') + 1),
          *range(ord('®'), ord('ÿ') + 1)]
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def clean_text(text: str) -> str:
    """``ftfy.fix_text``, HTML-unescape twice, strip, collapse whitespace, lowercase.

    Printable ASCII without ``&`` (plus tab and line breaks) is left unchanged by ``ftfy`` and by
    HTML unescaping, so such text skips both (``ftfy`` costs tens of microseconds a string).
    """
    if not _PLAIN_ASCII.fullmatch(text):
        text = html.unescape(html.unescape(ftfy.fix_text(text)))
    return ' '.join(text.split()).lower()


def find_clip_vocab() -> str:
    """Path of ``bpe_simple_vocab_16e6.txt.gz`` inside an installed ``open_clip_torch``."""
    spec = importlib.util.find_spec('open_clip')  # locates the package without importing it
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = os.path.join(folder, VOCAB_FILE)
        if os.path.isfile(candidate):
            return candidate
    try:
        files = importlib.metadata.files('open_clip_torch') or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for file in files:
        if file.name == VOCAB_FILE and os.path.isfile(file.locate()):
            return str(file.locate())
    raise FileNotFoundError(
        f'CLIPTokenizer: {VOCAB_FILE} not found. Install it with '
        f'`pip install open_clip_torch --no-deps` or pass path=<.../{VOCAB_FILE}>.')


def file_sha256(path: str) -> str:
    """Hex SHA-256 of a file's bytes."""
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def read_merges(path: str) -> list[tuple[str, str]]:
    """The first 48894 merges of a CLIP vocabulary file (its first line is a header; a shorter
    file, e.g. a small test vocabulary, gives all its merges)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'CLIPTokenizer: no vocabulary file at {path!r}.')
    with gzip.open(path, 'rt', encoding='utf-8') as f:
        lines = f.read().rstrip('\n').split('\n')[1:NUM_MERGES + 1]
    merges = []
    for lineno, line in enumerate(lines, start=2):
        pair = tuple(line.split())
        if len(pair) != 2:
            raise ValueError(f'CLIPTokenizer: {path}:{lineno} is not a merge "a b": {line!r}')
        merges.append(pair)
    return merges


def build_vocab(merges: Sequence[tuple[str, str]]) -> list[str]:
    """Byte symbols, byte symbols + ``</w>``, one token per merge, then start and end."""
    symbols = list(bytes_to_unicode().values())
    return [*symbols, *(s + '</w>' for s in symbols), *(a + b for a, b in merges), SOT, EOT]


@TOKENIZERS.register_module()
class CLIPTokenizer(BaseTokenizer):
    """CLIP BPE: vocabulary 49408 (for the released file), start 49406, end 49407, pad 0.

    Args:
        path: ``bpe_simple_vocab_16e6.txt.gz`` (or another file of the same format); ``None``
            looks it up in an installed ``open_clip_torch``.
        context_length: length of the id tensors :meth:`__call__` returns.
    """

    pad_id = 0
    cache_size = 200_000  # words whose ids are kept; the cache is emptied when it would overflow

    def __init__(self, path: str | None = None, context_length: int = 77) -> None:
        self.path = path if path is not None else find_clip_vocab()
        self.context_length = context_length
        merges = read_merges(self.path)
        vocab = build_vocab(merges)
        self.encoder = {}
        for i, token in enumerate(vocab):
            if self.encoder.setdefault(token, i) != i:
                raise ValueError(f'CLIPTokenizer: {self.path}: merge line {i - 512 + 2} makes '
                                 f'{token!r}, which is already token {self.encoder[token]}.')
        for lineno, (a, b) in enumerate(merges, start=2):
            if a not in self.encoder or b not in self.encoder:
                raise ValueError(f'CLIPTokenizer: {self.path}: line {lineno} merges {a!r} {b!r}, '
                                 f'but one of them is no token.')
        self.sot_id, self.eot_id = self.encoder[SOT], self.encoder[EOT]
        self._tok = Tokenizer(models.BPE(
            vocab=self.encoder, merges=list(merges), end_of_word_suffix='</w>',
            fuse_unk=False))
        self._tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False,
                                                           use_regex=False)
        self._tok.add_special_tokens([SOT, EOT])
        self._byte_decoder = {c: b for b, c in bytes_to_unicode().items()}
        self._cache: dict[str, list[int]] = {}

    @property
    def vocab_size(self) -> int:
        return len(self.encoder)

    def to_meta(self) -> dict:
        """``type``, the vocabulary file's name and its ``sha256`` (the file ships with
        open_clip_torch, so only what identifies it is stored)."""
        return dict(type='CLIPTokenizer', file=os.path.basename(self.path),
                    sha256=file_sha256(self.path))

    @classmethod
    def file_available(cls, cfg: dict) -> bool:
        if cfg.get('path') is not None:
            return os.path.isfile(cfg['path'])
        try:
            find_clip_vocab()
        except FileNotFoundError:
            return False
        return True

    @classmethod
    def config_from_meta(cls, cfg: dict, meta: dict) -> dict:
        """The installed vocabulary (open_clip_torch's), if its hash is the stored one."""
        try:
            path = find_clip_vocab()
        except FileNotFoundError as err:
            raise FileNotFoundError(f'{err} The checkpoint was made with {meta["file"]} '
                                    f'(sha256 {meta["sha256"]}).') from None
        digest = file_sha256(path)
        if digest != meta['sha256']:
            raise ValueError(f'CLIPTokenizer: the checkpoint was made with {meta["file"]} '
                             f'(sha256 {meta["sha256"]}), but {path} has sha256 {digest}')
        return {**cfg, 'path': path}

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        words = [PATTERN.findall(clean_text(t)) for t in texts]
        known = self._word_ids(dict.fromkeys(chain.from_iterable(words)))
        return [list(chain.from_iterable(map(known.__getitem__, ws))) for ws in words]

    def _word_ids(self, words: Iterable[str]) -> dict[str, list[int]]:
        """BPE ids of each word: from the cache, else from one Rust call for all new words."""
        known, new = {}, []
        for word in words:
            ids = self._cache.get(word)
            if ids is None:
                new.append(word)
            else:
                known[word] = ids
        if new:
            enc = self._tok.encode(new, is_pretokenized=True, add_special_tokens=False)
            word_index = np.asarray(enc.word_ids)
            pieces = np.split(np.asarray(enc.ids), np.flatnonzero(np.diff(word_index)) + 1)
            fresh = dict(zip(new, (p.tolist() for p in pieces)))
            if len(self._cache) + len(fresh) > self.cache_size:
                self._cache.clear()
            self._cache.update(fresh)
            known.update(fresh)
        return known

    def decode(self, ids: Sequence[int]) -> str:
        """Ids -> text as upstream (``</w>`` becomes a space), stripped; start and end are dropped
        and decoding stops at the end token. Id 0 is both the pad and the symbol ``!`` inside a
        word, so only trailing zeros are dropped (a word never ends on id 0, which lacks ``</w>``).
        """
        ids = [int(i) for i in ids]
        if self.eot_id in ids:
            ids = ids[:ids.index(self.eot_id)]
        while ids and ids[-1] == self.pad_id:
            ids.pop()
        tokens = ''.join(self._tok.id_to_token(i) for i in ids if i != self.sot_id)
        data = bytearray(self._byte_decoder[c] for c in tokens)
        return data.decode('utf-8', errors='replace').replace('</w>', ' ').strip()
