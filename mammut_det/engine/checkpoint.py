"""Loading a sub-model from the ``prefix`` keys of a checkpoint, strictly unless asked otherwise.

One loader serves the detection backbone, the class embedder and the video encoder: a key that
is missing, unexpected or of another shape is an error naming every such key, unless the caller
declared it absent by design (``new``: model keys the checkpoint cannot have, ``skip``: checkpoint
key prefixes the model does not use) or the config opts out (``strict=False``: load what fits and
log a warning with the same lists).
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from mmengine.logging import print_log
from mmengine.runner.checkpoint import CheckpointLoader
from torch import Tensor, nn

from ..models.pos_embed import resample_grid
from ..models.vit import MaMMUTViT

#: ``resize(key, checkpoint value, model value)`` -> the value refitted to the model, or None
Resizer = Callable[[str, Tensor, Tensor], 'Tensor | None']


class CheckpointKeyError(ValueError):
    """A checkpoint whose keys do not fit the model; the message names the file, the prefix and
    every missing, unexpected and mis-shaped key."""


@dataclass
class CheckpointReport:
    """What :func:`load_prefixed_state_dict` did (keys without the prefix).

    ``loaded``: copied; ``new``: model keys the checkpoint cannot have (declared by the caller);
    ``missing``: other model keys it lacks; ``unexpected``: its keys the model lacks;
    ``skipped``: its keys left out by design (declared prefixes); ``mismatched``: ``key
    (checkpoint shape) vs (model shape)``; ``resized``: keys refitted to the model's shape.
    """

    source: str
    prefix: str
    loaded: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    resized: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Nothing missing, unexpected or of another shape."""
        return not (self.missing or self.unexpected or self.mismatched)

    def problems(self) -> list[str]:
        """One line per kind of problem, each naming its keys."""
        lines = []
        for title, keys in (('missing keys, left at their initialisation', self.missing),
                            ('unexpected checkpoint keys, not loaded', self.unexpected),
                            ('shape mismatches, not loaded', self.mismatched)):
            if keys:
                lines.append(f'{title} ({len(keys)}): {", ".join(keys)}')
        return lines

    def __str__(self) -> str:
        lines = [f'loaded {len(self.loaded)} tensors from {self.source} (prefix '
                 f'{self.prefix!r})']
        if self.new:
            lines.append(f'new parameters, not in the checkpoint ({len(self.new)}): '
                         f'{", ".join(self.new)}')
        if self.skipped:
            lines.append(f'checkpoint keys not used by this model, skipped ({len(self.skipped)})')
        if self.resized:
            lines.append(f'resampled to the model grid: {", ".join(self.resized)}')
        return '\n'.join(lines + self.problems())

    def log(self, owner: str) -> None:
        """Through MMEngine's current logger; a warning when anything did not fit."""
        print_log(f'{owner}: ' + str(self).replace('\n', '; '), logger='current',
                  level=logging.INFO if self.ok else logging.WARNING)


def read_state_dict(checkpoint: str | dict) -> tuple[dict[str, Tensor], str]:
    """(state dict, name for messages) of a checkpoint path or dict; the weights may sit under
    ``state_dict`` or ``model``."""
    if isinstance(checkpoint, str):
        ckpt = CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu')
        source = checkpoint
    else:
        ckpt, source = checkpoint, '<state dict>'
    for key in ('state_dict', 'model'):
        if isinstance(ckpt.get(key), dict):
            return ckpt[key], source
    return ckpt, source


def load_prefixed_state_dict(module: nn.Module, checkpoint: str | dict, prefix: str, *,
                             owner: str, new: Sequence[str] = (), skip: Sequence[str] = (),
                             strict: bool = True, resize: Resizer | None = None
                             ) -> CheckpointReport:
    """Copy the ``prefix``-ed tensors of ``checkpoint`` into ``module``.

    Args:
        owner: what is loading, for the messages (e.g. ``'MaMMUTViTBackbone'``).
        new: model keys the checkpoint cannot have (never an error).
        skip: checkpoint key prefixes (after ``prefix``) the model does not use (never an error).
        strict: raise :class:`CheckpointKeyError` naming every missing, unexpected and mis-shaped
            key; otherwise load the tensors that fit and return the report of the others.
        resize: refits a tensor of another shape (e.g. a positional embedding on another grid).

    Raises ``KeyError`` when no key has the prefix.
    """
    state, source = read_state_dict(checkpoint)
    picked = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if not picked:
        sample = ', '.join(list(state)[:5])
        raise KeyError(f'{owner}: no key of {source} starts with {prefix!r} (first keys: '
                       f'{sample}); set the prefix of these weights in the checkpoint')
    own = module.state_dict()
    report = CheckpointReport(source=source, prefix=prefix)
    report.skipped = [k for k in picked if k.startswith(tuple(skip))] if skip else []
    picked = {k: v for k, v in picked.items() if k not in set(report.skipped)}
    report.new = [k for k in own if k in new and k not in picked]
    report.missing = [k for k in own if k not in new and k not in picked]
    report.unexpected = [k for k in picked if k not in own]
    to_load = {}
    for key, value in picked.items():
        if key not in own:
            continue
        target = own[key]
        if value.shape != target.shape and resize is not None:
            refit = resize(key, value, target)
            if refit is not None and refit.shape == target.shape:
                value = refit
                report.resized.append(key)
        if value.shape != target.shape:
            report.mismatched.append(f'{prefix}{key} has shape {tuple(value.shape)} but the '
                                     f'model expects {tuple(target.shape)}')
            continue
        to_load[key] = value
    if strict and not report.ok:
        raise CheckpointKeyError(
            f'{owner}: {source} (prefix {prefix!r}) does not fit the model:\n  '
            + '\n  '.join(report.problems())
            + "\n  Point the config at this model's checkpoint, or load what fits with "
              "init_cfg=dict(..., strict=False).")
    module.load_state_dict(to_load, strict=False)
    report.loaded = list(to_load)
    return report


def pos_embed_resizer(model: MaMMUTViT) -> Resizer:
    """Refits a learned positional embedding [prefix + g*g, C] of another square grid to
    ``model``'s grid (its CLS entries kept); other keys are not refitted."""
    def resize(key: str, value: Tensor, target: Tensor) -> Tensor | None:
        n_prefix = model.num_prefix_tokens
        side = math.isqrt(max(value.shape[0] - n_prefix, 0))
        if (key != 'positional_embedding' or value.ndim != 2 or side * side
                != value.shape[0] - n_prefix or value.shape[1] != target.shape[1]):
            return None
        body = resample_grid(value[n_prefix:], (side, side), model.grid)
        return torch.cat([value[:n_prefix], body])
    return resize


def load_image_state_dict(model: MaMMUTViT, checkpoint: str | dict, prefix: str, *,
                          owner: str, new: Sequence[str] = (), strict: bool = True
                          ) -> CheckpointReport:
    """An image tower (a :class:`MaMMUTViT` or subclass) from a checkpoint's ``prefix`` keys;
    a positional embedding of another grid is resampled. See
    :func:`load_prefixed_state_dict`."""
    return load_prefixed_state_dict(model, checkpoint, prefix, owner=owner, new=new,
                                    strict=strict, resize=pos_embed_resizer(model))
