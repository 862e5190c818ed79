"""Tokenizers: strings -> id tensors (see :class:`BaseTokenizer`)."""
from .base import BaseTokenizer, real_token_mask
from .bpe import BPETokenizer
from .clip import CLIPTokenizer, clean_text, find_clip_vocab

__all__ = ['BaseTokenizer', 'BPETokenizer', 'CLIPTokenizer', 'clean_text', 'find_clip_vocab',
           'real_token_mask']
