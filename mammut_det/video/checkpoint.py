"""Loading an image encoder checkpoint into a video backbone, with a report of what changed."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from mmengine.logging import print_log
from mmengine.runner.checkpoint import CheckpointLoader
from torch import Tensor

from ..models.pos_embed import resample_grid
from ..models.vit import MaMMUTViT


@dataclass
class ImageCheckpointReport:
    """What :func:`load_image_state_dict` did.

    ``loaded``: keys copied; ``new``: video-only keys the checkpoint cannot have (tube kernels,
    gate); ``missing``: other model keys it lacked (only when not strict); ``unexpected``: its keys
    the model has no use for; ``resized``: keys resampled to the model's shape; ``inflated``:
    whether the tube kernels were set from the patch kernel afterwards.
    """

    source: str
    prefix: str
    loaded: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    resized: list[str] = field(default_factory=list)
    inflated: bool = False

    def __str__(self) -> str:
        lines = [f'loaded {len(self.loaded)} image-encoder tensors from {self.source} '
                 f'(prefix {self.prefix!r})',
                 f'new video parameters, not in the checkpoint ({len(self.new)}): '
                 f'{", ".join(self.new) or "none"}'
                 + (' [tube kernels inflated from the patch kernel]' if self.inflated else '')]
        if self.missing:
            lines.append(f'MISSING image-encoder parameters, left at their initialisation '
                         f'({len(self.missing)}): {", ".join(self.missing)}')
        lines.append(f'unexpected checkpoint keys, ignored ({len(self.unexpected)}): '
                     f'{", ".join(self.unexpected) or "none"}')
        if self.resized:
            lines.append(f'resampled to the model grid: {", ".join(self.resized)}')
        return '\n'.join(lines)

    def log(self) -> None:
        print_log(str(self), logger='current')


def _state_dict_of(checkpoint: str | dict) -> tuple[dict[str, Tensor], str]:
    if isinstance(checkpoint, str):
        ckpt = CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu')
        source = checkpoint
    else:
        ckpt, source = checkpoint, '<state dict>'
    for key in ('state_dict', 'model'):
        if isinstance(ckpt.get(key), dict):
            ckpt = ckpt[key]
            break
    return ckpt, source


def _resize_pos_embed(value: Tensor, target: Tensor, prefix_tokens: int,
                      grid: tuple[int, int]) -> Tensor | None:
    """Resample a learned [prefix + g*g, C] embedding to ``target``'s grid; None if not square."""
    side = math.isqrt(value.shape[0] - prefix_tokens)
    if side * side != value.shape[0] - prefix_tokens or value.shape[1] != target.shape[1]:
        return None
    body = resample_grid(value[prefix_tokens:], (side, side), grid)
    return torch.cat([value[:prefix_tokens], body])


def load_image_state_dict(model: MaMMUTViT, checkpoint: str | dict, prefix: str,
                          video_only: Sequence[str], strict: bool = True
                          ) -> ImageCheckpointReport:
    """Copy ``prefix``-ed tensors of ``checkpoint`` (a path or a state dict, optionally under
    ``state_dict``/``model``) into ``model``.

    ``positional_embedding`` of another square grid is resampled. Raises ``KeyError`` if no key
    has the prefix, or (``strict``) if a model key outside ``video_only`` is missing, and
    ``ValueError`` for any other shape mismatch, naming the key and both shapes.
    """
    state, source = _state_dict_of(checkpoint)
    picked = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if not picked:
        sample = ', '.join(list(state)[:5])
        raise KeyError(f'{source}: no key starts with {prefix!r} (first keys: {sample}); '
                       f'set the prefix of the image encoder in this checkpoint')
    own = model.state_dict()
    report = ImageCheckpointReport(source=source, prefix=prefix)
    report.new = [k for k in own if k in video_only and k not in picked]
    report.missing = [k for k in own if k not in video_only and k not in picked]
    report.unexpected = [k for k in picked if k not in own]
    if strict and report.missing:
        raise KeyError(f'{source}: the image encoder (prefix {prefix!r}) lacks '
                       f'{len(report.missing)} parameters of the model: '
                       f'{", ".join(report.missing)}')
    to_load = {}
    for key, value in picked.items():
        if key not in own:
            continue
        target = own[key]
        if value.shape != target.shape and key == 'positional_embedding':
            resized = _resize_pos_embed(value, target, model.num_prefix_tokens, model.grid)
            if resized is not None and resized.shape == target.shape:
                value = resized
                report.resized.append(key)
        if value.shape != target.shape:
            raise ValueError(f'{source}: {prefix}{key} has shape {tuple(value.shape)} but the '
                             f'model expects {tuple(target.shape)}')
        to_load[key] = value
        report.loaded.append(key)
    model.load_state_dict(to_load, strict=False)
    return report
