"""Sparse tube geometry (TubeViT): kernels, strides, offsets, token counts, centres, 3D sin-cos.

A tube is a Conv3d over the clip ``[B, 3, T, H, W]`` cropped at ``offset`` (t, y, x), with the
given ``kernel`` and ``stride``. Along each axis of length ``L`` it gives
``n = (L - offset - kernel) // stride + 1`` positions, so a tube yields ``n_t * n_h * n_w`` tokens.

The reference geometry (:data:`DEFAULT_TUBES`) is TubeViT's for a 32-frame 224 clip and patch 16.
:func:`scale_tubes` derives the geometry for other clips with one rule: temporal values (kernel,
stride, offset) scale by ``clip_len / 32`` and spatial values by ``patch_size / 16``, each rounded
half up, kernels and strides at least 1, and a temporal kernel never longer than the clip after its
offset. Spatial values follow the patch size (not the image size) so that tube tokens keep the same
density relative to patch tokens at any resolution, as the learned patch grid does.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

Triple = tuple[int, int, int]


@dataclass(frozen=True)
class TubeSpec:
    """One tube type: Conv3d ``kernel`` and ``stride`` and start ``offset``, each (t, y, x)."""

    kernel: Triple
    stride: Triple
    offset: Triple = (0, 0, 0)

    def __post_init__(self) -> None:
        for name in ('kernel', 'stride', 'offset'):
            value = tuple(int(v) for v in getattr(self, name))
            if len(value) != 3:
                raise ValueError(f'tube {name} must have 3 entries (t, y, x), got {value}')
            object.__setattr__(self, name, value)
        if min(self.kernel) < 1 or min(self.stride) < 1 or min(self.offset) < 0:
            raise ValueError(f'tube needs kernel, stride >= 1 and offset >= 0, got {self}')

    def grid(self, clip: Triple) -> Triple:
        """Token grid (n_t, n_h, n_w) on a clip (T, H, W); ValueError if the tube does not fit."""
        sizes = tuple((length - o - k) // s + 1
                      for length, k, s, o in zip(clip, self.kernel, self.stride, self.offset))
        if min(sizes) < 1:
            raise ValueError(f'tube {self} does not fit a clip of (T, H, W) = {tuple(clip)}')
        return sizes

    def num_tokens(self, clip: Triple) -> int:
        """Number of tokens this tube yields on a clip of shape (T, H, W)."""
        return math.prod(self.grid(clip))

    def centres(self, clip: Triple) -> Tensor:
        """Centre of every token, [n_t * n_h * n_w, 3] as (t, y, x) in frame and pixel units,
        token order t-major, as ``Conv3d(...).flatten(2)`` gives them. A span of pixels
        [a, a + k) has centre a + k / 2."""
        axes = [o + s * torch.arange(n, dtype=torch.float32) + k / 2
                for n, k, s, o in zip(self.grid(clip), self.kernel, self.stride, self.offset)]
        return torch.stack(torch.meshgrid(*axes, indexing='ij'), dim=-1).reshape(-1, 3)


#: TubeViT's tubes for a 32-frame 224 clip with 16-pixel patches.
DEFAULT_TUBES = (
    TubeSpec(kernel=(8, 8, 8), stride=(16, 32, 32), offset=(0, 0, 0)),
    TubeSpec(kernel=(16, 4, 4), stride=(6, 32, 32), offset=(4, 8, 8)),
    TubeSpec(kernel=(4, 12, 12), stride=(16, 32, 32), offset=(0, 16, 16)),
    TubeSpec(kernel=(1, 16, 16), stride=(32, 16, 16), offset=(0, 0, 0)),
)
REFERENCE_CLIP_LEN = 32
REFERENCE_PATCH_SIZE = 16


def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def scale_tubes(tubes: tuple[TubeSpec, ...] | list[TubeSpec], clip_len: int, patch_size: int,
                ref_clip_len: int = REFERENCE_CLIP_LEN,
                ref_patch_size: int = REFERENCE_PATCH_SIZE) -> tuple[TubeSpec, ...]:
    """Derive tubes for ``clip_len`` frames and ``patch_size`` from ones given for the reference
    clip (see the module docstring for the rule)."""
    ft = clip_len / ref_clip_len
    fs = patch_size / ref_patch_size
    out = []
    for tube in tubes:
        factors = (ft, fs, fs)
        kernel = [max(1, _round_half_up(k * f)) for k, f in zip(tube.kernel, factors)]
        stride = [max(1, _round_half_up(s * f)) for s, f in zip(tube.stride, factors)]
        offset = [_round_half_up(o * f) for o, f in zip(tube.offset, factors)]
        offset[0] = min(offset[0], clip_len - 1)
        kernel[0] = min(kernel[0], clip_len - offset[0])
        out.append(TubeSpec(tuple(kernel), tuple(stride), tuple(offset)))
    return tuple(out)


def sincos_pos_embed_3d(coords: Tensor, dim: int, temperature: float = 10000.0) -> Tensor:
    """Fixed sin-cos embedding of 3D points: ``coords`` [N, 3] (t, y, x) -> [N, dim].

    Each axis gets ``2 * (dim // 6)`` channels (sines then cosines over geometric frequencies
    ``temperature ** (-i / (dim // 6))``); channels left over when ``dim`` is not a multiple of 6
    are zero.
    """
    n_freq = dim // 6
    if n_freq < 1:
        raise ValueError(f'3D sin-cos embedding needs dim >= 6, got {dim}')
    omega = temperature ** (-torch.arange(n_freq, dtype=torch.float32, device=coords.device)
                            / n_freq)
    parts = []
    for axis in range(3):
        angles = coords[:, axis:axis + 1].float() * omega
        parts += [angles.sin(), angles.cos()]
    emb = torch.cat(parts, dim=1)
    return torch.nn.functional.pad(emb, (0, dim - emb.shape[1]))
