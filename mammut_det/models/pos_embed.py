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
                      max_attempts: int = 10) -> Tensor:
    """Random resized-crop boxes on the unit square, ``[B, 4]`` as (x0, y0, x1, y1), on the CPU.

    torchvision's ``RandomResizedCrop`` rule (RO-ViT's CPE crops with it): the area fraction is
    uniform in ``scale`` and the aspect ratio (w/h) log-uniform in ``ratio``; a draw whose width
    or height exceeds the square is drawn again, up to ``max_attempts`` times, after which the
    whole square is taken (torchvision's fallback for a ratio range that contains 1; with the
    default ranges it happens with probability ~1e-5). The position is uniform.
    """
    u = torch.rand(batch, max_attempts, 2, generator=generator, dtype=torch.float64)
    area = scale[0] + (scale[1] - scale[0]) * u[..., 0]
    log_r = math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * u[..., 1]
    aspect = torch.exp(log_r)
    w, h = torch.sqrt(area * aspect), torch.sqrt(area / aspect)
    fits = (w <= 1) & (h <= 1)
    first = fits.int().argmax(dim=1, keepdim=True)
    found = fits.any(dim=1)
    w = torch.where(found, w.gather(1, first)[:, 0], torch.ones(batch, dtype=w.dtype))
    h = torch.where(found, h.gather(1, first)[:, 0], torch.ones(batch, dtype=h.dtype))
    corner = torch.rand(batch, 2, generator=generator, dtype=torch.float64)
    x0, y0 = (1 - w) * corner[:, 0], (1 - h) * corner[:, 1]
    return torch.stack([x0, y0, x0 + w, y0 + h], dim=1).float()


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
