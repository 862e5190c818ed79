"""Tokenising prompt and target in the data workers."""
from __future__ import annotations

import torch
from mmcv.transforms import BaseTransform
from mmengine.registry import TRANSFORMS

from ..registry import TOKENIZERS
from ..text.base import BaseTokenizer
from .prompts import format_prompt, prompted_row


@TRANSFORMS.register_module()
class TokenizePrompted(BaseTransform):
    """Make ``text_tokens`` (LongTensor [n]: ``<start> prompt target <end>``, or ``<start>
    prompt`` when the sample has no ``target_key``, e.g. a test split) and ``prompt_length``
    (int, the start token included) as :class:`~mammut_det.generation.MaMMUTGenerator` reads
    them (layout: :mod:`mammut_det.generation.prompts`). Give the model the same ``prompt`` and
    ``target_key``; pack both keys (``PackCaptionInputs`` packs ``text_tokens`` itself; add
    ``prompt_length``, or both for MMAction2's ``PackActionInputs``, to ``meta_keys``).

    Required keys: the prompt's fields, ``target_key`` (optional). Added keys: ``text_tokens``,
    ``prompt_length``.

    Args:
        tokenizer: a tokenizer config or instance, the model's.
        prompt: the prompt template (``'{question}'``, ``'a photo of'``, ``''``).
        target_key: the field to generate (``'caption'``, ``'answer'``).
        max_prompt_tokens: ids of the prompt kept (``None``: half the context), the model's.
    """

    def __init__(self, tokenizer: dict | BaseTokenizer, prompt: str = '',
                 target_key: str = 'caption', max_prompt_tokens: int | None = None) -> None:
        self.tokenizer = TOKENIZERS.build(tokenizer) if isinstance(tokenizer, dict) else tokenizer
        self.prompt = prompt
        self.target_key = target_key
        self.max_prompt_tokens = max_prompt_tokens

    def transform(self, results: dict) -> dict:
        where = str(results.get('img_path', results.get('filename', 'sample')))
        row, n = prompted_row(self.tokenizer, format_prompt(self.prompt, results, where),
                              results.get(self.target_key), self.max_prompt_tokens)
        results['text_tokens'] = torch.tensor(row, dtype=torch.long)
        results['prompt_length'] = n
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(tokenizer={type(self.tokenizer).__name__}, '
                f'prompt={self.prompt!r}, target_key={self.target_key!r})')
