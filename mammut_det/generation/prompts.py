"""The token layout of prompted generation, shared by the data transform and the model.

A row is ``<start> prompt <answer> <end>``: the start token, the prompt's ids (the question for
VQA, e.g. "a photo of" or nothing for captioning), the target's ids, the end token; no separator
(a question ends in "?"; a caption prefix runs on into the caption). The prompt is teacher-forced
and the loss covers the target's ids and the end token only. In decoding the prefix is
``<start> prompt`` and the model generates from there. Prompt and target are tokenised apart,
so a target's ids are the same whatever the prompt (a byte-level BPE would otherwise merge the
space before the target's first word differently).

Lengths: the prompt keeps its first ``max_prompt_tokens`` ids (default half the context
length), whatever the target, so that the prompt a model sees never depends on the answer; the
row then keeps its first ``context_length`` ids with the last set to the end token (open_clip's
rule), in decoding generation stops at the context length. The real positions of a row are
found from its end token (:func:`mammut_det.text.real_token_mask`), never from the pad id.
"""
from __future__ import annotations

from collections.abc import Mapping
from string import Formatter

import torch
from torch import Tensor

from ..text.base import BaseTokenizer, real_token_mask


def prompt_fields(prompt: str) -> tuple[str, ...]:
    """The names a prompt template reads (``'{question}'`` -> ``('question',)``)."""
    return tuple(name for _, name, _, _ in Formatter().parse(prompt) if name)


def format_prompt(prompt: str, fields: Mapping, where: str = 'sample') -> str:
    """``prompt`` with its ``{names}`` taken from ``fields``; a KeyError names a missing one."""
    missing = [n for n in prompt_fields(prompt) if n not in fields]
    if missing:
        raise KeyError(f'{where}: the prompt {prompt!r} needs {missing}, which the sample lacks')
    return prompt.format(**{n: fields[n] for n in prompt_fields(prompt)})


def prompted_row(tokenizer: BaseTokenizer, prompt: str, target: str | None,
                 max_prompt_tokens: int | None = None) -> tuple[list[int], int]:
    """Ids of ``<start> prompt target <end>`` (only ``<start> prompt`` when ``target`` is None)
    and the prompt length (the start token included): the positions the loss skips. The prompt
    keeps its first ``max_prompt_tokens`` ids (``None``: half the context length)."""
    limit = tokenizer.context_length
    keep = limit // 2 if max_prompt_tokens is None else max_prompt_tokens
    if not 0 <= keep <= limit - 2:
        raise ValueError(f'max_prompt_tokens must be in [0, {limit - 2}] for a context of '
                         f'{limit}, got {max_prompt_tokens}')
    prefix = [tokenizer.sot_id, *(tokenizer.encode_batch([prompt])[0][:keep] if prompt else [])]
    if target is None:
        return prefix, len(prefix)
    row = [*prefix, *tokenizer.encode_batch([target])[0], tokenizer.eot_id][:limit]
    row[-1] = tokenizer.eot_id
    return row, len(prefix)

def target_mask(tokens: Tensor, prompt_lengths: Tensor, eot_id: int) -> Tensor:
    """Bool [B, L - 1] over the next-token targets ``tokens[:, 1:]`` of right-padded rows
    ``tokens`` [B, L]: True for the target's ids and the end token, i.e. at or after the prompt
    (``prompt_lengths`` [B]) and up to the end token."""
    pos = torch.arange(1, tokens.shape[1], device=tokens.device)
    return real_token_mask(tokens, eot_id)[:, 1:] & (pos[None] >= prompt_lengths[:, None])

