"""Drawing and bookkeeping shared by the toy generative-task sets (VQA, VideoQA, captions).

Scenes reuse the toy caption generator's shapes, colours and backgrounds
(:mod:`mammut_det.datasets.toy_captions`) with up to several objects of distinct colours; clips
reuse the moving-dot videos (:mod:`mammut_det.video.toy`) with a named dot colour.
"""
from __future__ import annotations

import json
import math
import os
import os.path as osp
from collections.abc import Sequence

import cv2
import numpy as np

from ..text import BPETokenizer
from ..video.toy import render_moving_clip
from .toy_captions import COLOURS, SIZES, ToyObject, _background, draw_object


def draw_shapes_scene(rng: np.random.Generator, size: int = 64,
                      num_objects: tuple[int, int] = (1, 3),
                      palette: dict[str, tuple[int, int, int]] | None = None,
                      shapes: Sequence[str] = ('circle', 'square', 'triangle', 'star'),
                      ) -> tuple[np.ndarray, str, list[ToyObject]]:
    """One scene: an image [size, size, 3] uint8 BGR, its background name and its objects.

    Between ``num_objects[0]`` and ``num_objects[1]`` shapes (drawn from ``shapes`` with repeats)
    in distinct colours of ``palette`` (name -> RGB, default the toy caption colours), small or
    large as in the caption set, never overlapping: an object that finds no free place in 100
    draws is left out, so a scene may hold fewer (at least one).
    """
    palette = palette or COLOURS
    lo, hi = num_objects
    if not 1 <= lo <= hi <= len(palette):
        raise ValueError(f'num_objects must satisfy 1 <= low <= high <= {len(palette)} colours, '
                         f'got {num_objects}')
    img, background = _background(rng, size)
    count = int(rng.integers(lo, hi + 1))
    colours = [str(c) for c in rng.choice(list(palette), count, replace=False)]
    objs: list[ToyObject] = []
    for colour in colours:
        for _ in range(100):
            word = str(rng.choice(list(SIZES)))
            radius = float(rng.uniform(*SIZES[word]) * size)
            center = tuple(float(c) for c in rng.uniform(radius + 1, size - radius - 1, 2))
            if all(math.dist(center, o.center) > radius + o.radius + 2 for o in objs):
                break
        else:
            continue
        obj = ToyObject(shape=str(rng.choice(list(shapes))), colour=colour, size=word,
                        center=center, radius=radius, angle=float(rng.uniform(0, 2 * math.pi)))
        draw_object(img, obj, palette[colour][::-1])
        objs.append(obj)
    return img, background, objs


def named_dot_clip(rightwards: bool, rgb: tuple[int, int, int], rng: np.random.Generator,
                   num_frames: int = 16, size: int = 32) -> np.ndarray:
    """A moving-dot clip [T, size, size, 3] uint8 BGR (:func:`~mammut_det.video.toy.
    render_moving_clip`: same motion, wrap-around and speed) whose dot has the colour ``rgb``:
    each pixel keeps its anti-aliasing weight (its brightest channel over the dot's)."""
    frames = render_moving_clip(rightwards, rng, num_frames, size).astype(np.float32)
    weight = frames.max(axis=-1, keepdims=True) / max(float(frames.max()), 1.0)
    return np.round(weight * np.asarray(rgb[::-1], np.float32)).astype(np.uint8)


def write_image(path: str, img: np.ndarray) -> None:
    """Write ``img`` (BGR) to ``path``, making its folder; an OSError if OpenCV cannot."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    if not cv2.imwrite(path, img):
        raise OSError(f'could not write {path}')


def write_json(path: str, data: object) -> None:
    """Write ``data`` as indented JSON to ``path``."""
    with open(path, 'w') as f:
        json.dump(data, f, indent=1)


def needs_writing(out_dir: str, settings: dict, files: Sequence[str], force: bool) -> bool:
    """Whether to (re)write a toy set in ``out_dir``: ``False`` when it already holds one made
    with ``settings`` (its ``manifest.json``, written last by :func:`finish`, equals them and every
    one of ``files`` exists) and not ``force``; otherwise makes ``out_dir``, removes its manifest
    (so that an interrupted write is redone) and returns ``True``."""
    path = osp.join(out_dir, 'manifest.json')
    if not force and osp.isfile(path) and all(osp.isfile(osp.join(out_dir, n)) for n in files):
        with open(path) as f:
            if json.load(f) == settings:
                return False
    os.makedirs(out_dir, exist_ok=True)
    if osp.isfile(path):
        os.remove(path)
    return True


def finish(out_dir: str, settings: dict, texts: Sequence[str], vocab_size: int,
           context_length: int) -> None:
    """Train ``tokenizer.json`` (byte-level BPE) on ``texts``, then write the manifest that marks
    ``out_dir`` complete for ``settings``."""
    BPETokenizer.train(texts, vocab_size, osp.join(out_dir, 'tokenizer.json'), context_length)
    write_json(osp.join(out_dir, 'manifest.json'), settings)
