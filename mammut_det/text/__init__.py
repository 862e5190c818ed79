"""Tokenizers: strings -> fixed-length id tensors (see :class:`BaseTokenizer`)."""
from .base import BaseTokenizer
from .bpe import BPETokenizer

__all__ = ['BaseTokenizer', 'BPETokenizer']
