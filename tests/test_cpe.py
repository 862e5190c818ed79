"""Cropped positional embedding (RO-ViT): the crop distribution, per-rank seeding, and that a crop
takes the right region of the upsampled grid."""
from __future__ import annotations

import math
import random

import numpy as np
import torch

from mammut_det.engine import TwoPassScheduleHook
from mammut_det.models.pos_embed import cropped_pos_embed, sample_crop_boxes

SCALE, RATIO = (0.1, 1.0), (0.5, 2.0)


def reference_crops(n: int, seed: int) -> np.ndarray:
    """torchvision's RandomResizedCrop rule on the unit square, written out: area uniform in
    SCALE, aspect log-uniform in RATIO, drawn again while a side exceeds the square."""
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        area = rng.uniform(*SCALE)
        aspect = math.exp(rng.uniform(math.log(RATIO[0]), math.log(RATIO[1])))
        w, h = math.sqrt(area * aspect), math.sqrt(area / aspect)
        if w <= 1 and h <= 1:
            out.append((area, aspect))
    return np.array(out)


def test_crops_stay_in_the_requested_area_and_aspect_ranges():
    boxes = sample_crop_boxes(10_000, SCALE, RATIO, torch.Generator().manual_seed(0))
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    area, aspect = (w * h).numpy(), (w / h).numpy()
    eps = 1e-5
    assert area.min() >= SCALE[0] - eps and area.max() <= SCALE[1] + eps
    assert aspect.min() >= RATIO[0] - eps and aspect.max() <= RATIO[1] + eps
    assert boxes.min() >= 0 and boxes.max() <= 1
    # the histograms match the rejection sampler's (10 bins each, within sampling noise)
    ref = reference_crops(10_000, seed=1)
    for ours, theirs, edges in (
            (area, ref[:, 0], np.linspace(*SCALE, 11)),
            (np.log(aspect), np.log(ref[:, 1]), np.linspace(np.log(RATIO[0]),
                                                            np.log(RATIO[1]), 11))):
        a = np.histogram(ours, edges)[0] / len(ours)
        b = np.histogram(theirs, edges)[0] / len(theirs)
        assert np.abs(a - b).max() < 0.02, (a, b)


def test_two_ranks_draw_different_crops_and_a_rerun_the_same():
    hook = TwoPassScheduleHook(seed=7)
    draw = [sample_crop_boxes(4, SCALE, RATIO, hook.cpe_generator(iteration=5, rank=r))
            for r in (0, 1, 0)]
    assert (draw[0] - draw[1]).abs().max() > 1e-3
    torch.testing.assert_close(draw[0], draw[2], rtol=0, atol=0)
    later = sample_crop_boxes(4, SCALE, RATIO, hook.cpe_generator(iteration=6, rank=0))
    assert (later - draw[0]).abs().max() > 1e-3


def test_crop_takes_the_right_region_of_the_upsampled_grid():
    """A linear ramp (value = x position of the cell centre, second channel = y) upsampled from
    4x4 to 16x16 stays the same ramp inside the outermost centres; the crop (0.25..0.75 wide,
    0.5..0.875 high) resized back to 4x4 holds the ramp at its own cell centres."""
    n = 4
    centres = (torch.arange(n) + 0.5) / n
    pos = torch.stack([centres[None, :].expand(n, n), centres[:, None].expand(n, n)], dim=-1)
    box = torch.tensor([[0.25, 0.5, 0.75, 0.875]])
    out = cropped_pos_embed(pos.reshape(n * n, 2), (n, n), (16, 16), box).reshape(n, n, 2)
    want_x = 0.25 + 0.5 * centres
    want_y = 0.5 + 0.375 * centres
    torch.testing.assert_close(out[..., 0], want_x[None, :].expand(n, n), rtol=0, atol=1e-6)
    torch.testing.assert_close(out[..., 1], want_y[:, None].expand(n, n), rtol=0, atol=1e-6)
