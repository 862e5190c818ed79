"""The tokenizer travels in the checkpoint: saved into ``meta['tokenizers']`` by a hook, used when
the config's tokenizer file is absent."""
from __future__ import annotations

from collections.abc import Iterator, MutableMapping

import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS
from torch import nn

from ..registry import TOKENIZERS
from ..text.base import BaseTokenizer


def model_tokenizers(model: nn.Module) -> dict[str, dict]:
    """``{'class_embedder.tokenizer': meta, ...}``: every tokenizer a module of ``model`` holds
    as its ``tokenizer`` attribute, by module path, as :meth:`BaseTokenizer.to_meta`."""
    found = {}
    for name, module in model.named_modules():
        tokenizer = getattr(module, 'tokenizer', None)
        if isinstance(tokenizer, BaseTokenizer):
            found[f'{name}.tokenizer' if name else 'tokenizer'] = tokenizer.to_meta()
    return found


@HOOKS.register_module()
class TokenizerMetaHook(Hook):
    """Writes the model's tokenizers into each checkpoint's ``meta['tokenizers']`` (see
    :func:`model_tokenizers`), so that ``tools/test.py`` and the inference API can run the
    checkpoint when the config's tokenizer file is absent (:func:`restore_tokenizers`)."""

    priority = 'LOW'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        checkpoint.setdefault('meta', {})['tokenizers'] = model_tokenizers(model)


def _tokenizer_configs(cfg: MutableMapping, prefix: str = ''
                       ) -> Iterator[tuple[str, MutableMapping]]:
    """(module path of the tokenizer, the dict holding its config) for every ``tokenizer`` key
    of a model config whose value builds a registered tokenizer."""
    for key, value in cfg.items():
        if not isinstance(value, MutableMapping):
            continue
        kind = value.get('type')
        if key == 'tokenizer' and isinstance(kind, str) and kind in TOKENIZERS:
            yield f'{prefix}tokenizer', cfg
        else:
            yield from _tokenizer_configs(value, f'{prefix}{key}.')


def checkpoint_meta(path: str) -> dict:
    """``meta`` of a checkpoint file, read without loading its tensors (memory-mapped)."""
    return torch.load(path, map_location='cpu', mmap=True, weights_only=True).get('meta') or {}


def restore_tokenizers(model_cfg: MutableMapping, checkpoint: str | dict) -> list[str]:
    """Where a tokenizer's file is absent (a BPE JSON not there, no CLIP vocabulary installed),
    point its config at what ``checkpoint`` (a path, or its ``meta`` dict) stored for it.

    Changes ``model_cfg`` in place and returns the module paths of the tokenizers restored. A
    missing file without a stored tokenizer is left alone (building the model reports it)."""
    absent = [(path, parent) for path, parent in _tokenizer_configs(model_cfg)
              if not TOKENIZERS.get(parent['tokenizer']['type']).file_available(
                  parent['tokenizer'])]
    if not absent:
        return []
    meta = checkpoint_meta(checkpoint) if isinstance(checkpoint, str) else checkpoint
    stored = meta.get('tokenizers', {})
    restored = []
    for path, parent in absent:
        if path not in stored:
            continue
        cls = TOKENIZERS.get(stored[path]['type'])
        parent['tokenizer'] = cls.config_from_meta(
            {'type': stored[path]['type'], **{k: v for k, v in parent['tokenizer'].items()
                                              if k not in ('type', 'path', 'content')}},
            stored[path])
        restored.append(path)
        print_log(f'{path}: the config\'s tokenizer file is absent; using the '
                  f'{stored[path]["type"]} stored in the checkpoint', logger='current')
    return restored
