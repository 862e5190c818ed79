"""Tokenizers: strings -> fixed-length id tensors (see :class:`BaseTokenizer`)."""
from .base import BaseTokenizer
from .bpe import BPETokenizer
from .clip import CLIPTokenizer, clean_text, find_clip_vocab

__all__ = ['BaseTokenizer', 'BPETokenizer', 'CLIPTokenizer', 'clean_text', 'find_clip_vocab']
