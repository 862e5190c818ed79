"""Positional-embedding resampling and the cropped positional embedding (CPE, RO-ViT)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def resample_grid(pos: Tensor, src: tuple[int, int], dst: tuple[int, int]) -> Tensor:
    """Bilinearly resample a grid embedding ``pos`` [H*W, C] on ``src`` to [H'*W', C] on ``dst``."""
    if tuple(src) == tuple(dst):
        return pos
    c = pos.shape[-1]
    grid = pos.reshape(1, src[0], src[1], c).permute(0, 3, 1, 2)
    grid = F.interpolate(grid.float(), size=dst, mode='bilinear', align_corners=False)
    return grid.to(pos.dtype).permute(0, 2, 3, 1).reshape(dst[0] * dst[1], c)


def sample_crop_boxes(batch: int, scale: tuple[float, float], ratio: tuple[float, float],
                      generator: torch.Generator | None = None,
                      device: torch.device | str = 'cpu') -> Tensor:
    """Random resized-crop boxes in normalised coordinates, ``[B, 4]`` as (x0, y0, x1, y1).

    Area fraction is uniform in ``scale`` and the aspect ratio (w/h) log-uniform in ``ratio``, as in
    torchvision's RandomResizedCrop; sides are clipped to the unit square.
    """
    u = torch.rand(batch, 4, generator=generator, device=device)
    area = scale[0] + (scale[1] - scale[0]) * u[:, 0]
    log_r = math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * u[:, 1]
    aspect = torch.exp(log_r)
    w = torch.sqrt(area * aspect).clamp(max=1.0)
    h = torch.sqrt(area / aspect).clamp(max=1.0)
    x0 = (1.0 - w) * u[:, 2]
    y0 = (1.0 - h) * u[:, 3]
    return torch.stack([x0, y0, x0 + w, y0 + h], dim=1)


def cropped_pos_embed(pos: Tensor, grid: tuple[int, int], full_grid: tuple[int, int],
                      boxes: Tensor) -> Tensor:
    """CPE: upsample ``pos`` [H*W, C] to ``full_grid``, crop each box, resize back to ``grid``.

    ``boxes``: [B, 4] normalised (x0, y0, x1, y1). Returns [B, H*W, C]. Cropping then bilinear
    resizing is done as one bilinear sampling of the upsampled map at the crop's grid points.
    """
    c = pos.shape[-1]
    full = resample_grid(pos, grid, full_grid)
    full = full.reshape(1, full_grid[0], full_grid[1], c).permute(0, 3, 1, 2)
    b = boxes.shape[0]
    h, w = grid
    # centres of the output cells inside each box, in [-1, 1] (align_corners=False convention)
    ty = (torch.arange(h, device=pos.device, dtype=pos.dtype) + 0.5) / h
    tx = (torch.arange(w, device=pos.device, dtype=pos.dtype) + 0.5) / w
    boxes = boxes.to(pos.dtype)
    ys = boxes[:, 1:2] + (boxes[:, 3:4] - boxes[:, 1:2]) * ty
    xs = boxes[:, 0:1] + (boxes[:, 2:3] - boxes[:, 0:1]) * tx
    sample = torch.stack([xs[:, None, :].expand(b, h, w), ys[:, :, None].expand(b, h, w)], dim=-1)
    out = F.grid_sample(full.expand(b, -1, -1, -1), sample * 2 - 1, mode='bilinear',
                        align_corners=False)
    return out.permute(0, 2, 3, 1).reshape(b, h * w, c)
