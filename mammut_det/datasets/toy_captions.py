"""A procedurally drawn image-caption set for smoke tests and tiny pretraining runs.

Each image shows one or two coloured shapes on a dark, grey or light background (plain or
lightly noisy); its caption names each shape's colour and kind, sometimes its size (small/large),
the background or which shape is above the other. Captions never say left/right, so a horizontal
flip keeps them true, and "above" is only used when the shapes do not overlap vertically, so
crops keep it true.

Output of :func:`make_toy_captions` under ``out_dir``::

    images/train/000000.png ...   images/val/000000.png ...
    train.jsonl, val.jsonl        {"image": "images/train/000000.png", "caption": ...,
                                   "objects": [ToyObject fields, ...]}
    tokenizer.json                byte-level BPE trained on the train captions
    manifest.json                 the settings, written last; a rerun with equal settings skips

and of :func:`make_toy_classes`, one shape per image for zero-shot classification::

    <colour>_<shape>/000.png ...  a folder per class (8 colours x 7 shapes)
    classes.txt                   the class names in label order ("blue circle", ...)

Everything is drawn from ``np.random.default_rng([seed, split, index])``: one seed gives
byte-identical files.
"""
from __future__ import annotations

import json
import math
import os
import os.path as osp
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from ..text import BPETokenizer

GENERATOR_VERSION = 1

# name -> RGB; far apart from each other and from the grey backgrounds
COLOURS: dict[str, tuple[int, int, int]] = {
    'red': (220, 30, 30), 'green': (30, 170, 50), 'blue': (30, 70, 225),
    'yellow': (240, 220, 30), 'purple': (130, 40, 170), 'orange': (245, 135, 20),
    'cyan': (40, 215, 225), 'pink': (250, 130, 200),
}
SHAPES = ('circle', 'square', 'triangle', 'star', 'cross', 'diamond', 'hexagon')
BACKGROUNDS = {'dark': 40, 'grey': 128, 'light': 215}
SIZES = {'small': (0.09, 0.13), 'large': (0.19, 0.25)}  # circumradius / image side


@dataclass
class ToyObject:
    """One drawn shape: ``center`` (x, y) and circumscribed ``radius`` in pixels, ``angle`` in
    radians (rotation of polygons)."""

    shape: str
    colour: str
    size: str
    center: tuple[float, float]
    radius: float
    angle: float


def shape_polygon(obj: ToyObject) -> np.ndarray | None:
    """Vertices [K, 2] (x, y) of ``obj``'s outline, or ``None`` for a circle."""
    if obj.shape == 'circle':
        return None

    def ring(n: int, radii: tuple[float, ...], phase: float) -> np.ndarray:
        t = obj.angle + phase + 2 * math.pi * np.arange(n * len(radii)) / (n * len(radii))
        r = np.tile(np.asarray(radii) * obj.radius, n)
        return np.stack([obj.center[0] + r * np.cos(t), obj.center[1] + r * np.sin(t)], 1)

    if obj.shape == 'square':
        return ring(4, (1.0,), math.pi / 4 - obj.angle)
    if obj.shape == 'diamond':
        return ring(4, (1.0,), -obj.angle)
    if obj.shape == 'triangle':
        return ring(3, (1.0,), -math.pi / 2)
    if obj.shape == 'hexagon':
        return ring(6, (1.0,), 0.0)
    if obj.shape == 'star':
        return ring(5, (1.0, 0.45), -math.pi / 2)
    if obj.shape == 'cross':
        arm, half = 0.95, 0.32
        xs = np.array([half, half, arm, arm, half, half, -half, -half, -arm, -arm, -half, -half])
        ys = np.array([arm, half, half, -half, -half, -arm, -arm, -half, -half, half, half, arm])
        return np.stack([obj.center[0] + xs * obj.radius, obj.center[1] + ys * obj.radius], 1)
    raise ValueError(f'unknown shape {obj.shape!r}; expected one of {SHAPES}')


def draw_object(img: np.ndarray, obj: ToyObject, colour: tuple[int, ...]) -> np.ndarray:
    """Fill ``obj`` into ``img`` [H, W, C] (in place, anti-aliased) with ``colour``."""
    shift = 4  # sub-pixel precision of cv2's drawing functions
    scale = 1 << shift
    poly = shape_polygon(obj)
    if poly is None:
        center = (round(obj.center[0] * scale), round(obj.center[1] * scale))
        cv2.circle(img, center, round(obj.radius * scale), colour, -1, cv2.LINE_AA, shift)
    else:
        pts = np.round(poly * scale).astype(np.int32)
        cv2.fillPoly(img, [pts], colour, cv2.LINE_AA, shift)
    return img


def _article(word: str) -> str:
    return f'an {word}' if word[0] in 'aeiou' else f'a {word}'


def _place(rng: np.random.Generator, size: int, n: int) -> list[tuple[str, float, tuple]]:
    """(size word, radius, centre) for ``n`` shapes inside the image that do not overlap."""
    while True:
        placed: list[tuple[str, float, tuple]] = []
        for _ in range(n):
            word = str(rng.choice(list(SIZES)))
            radius = float(rng.uniform(*SIZES[word]) * size)
            margin = radius + 1
            center = tuple(float(c) for c in rng.uniform(margin, size - margin, 2))
            placed.append((word, radius, center))
        if n == 1 or math.dist(placed[0][2], placed[1][2]) > placed[0][1] + placed[1][1] + 2:
            return placed


def toy_caption(rng: np.random.Generator, objs: list[ToyObject], background: str) -> str:
    with_size = rng.random() < 0.5
    phrases = [_article(f'{o.size} {o.colour} {o.shape}' if with_size
                        else f'{o.colour} {o.shape}') for o in objs]
    on_bg = f'on a {background} background'
    if len(objs) == 1:
        templates = ['{0}', '{0} ' + on_bg, 'a picture of {0}', 'a drawing of {0}']
        return str(rng.choice(templates)).format(*phrases)
    templates = ['{0} and {1}', '{0} next to {1}', 'two shapes: {0} and {1}',
                 '{0} and {1} ' + on_bg]
    top, bottom = sorted(range(2), key=lambda i: objs[i].center[1])
    gap = objs[bottom].center[1] - objs[top].center[1]
    if gap > objs[top].radius + objs[bottom].radius:
        templates.append(f'{phrases[top]} above {phrases[bottom]}')
        templates.append(f'{phrases[bottom]} below {phrases[top]}')
    order = rng.permutation(2)
    return str(rng.choice(templates)).format(*(phrases[i] for i in order))


def _background(rng: np.random.Generator, size: int) -> tuple[np.ndarray, str]:
    """A plain or lightly noisy grey image [size, size, 3] uint8 and its name."""
    background = str(rng.choice(list(BACKGROUNDS)))
    img = np.full((size, size, 3), BACKGROUNDS[background], np.float32)
    if rng.random() < 0.5:
        img += rng.normal(0.0, rng.uniform(2.0, 8.0), img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8), background


def make_sample(rng: np.random.Generator, size: int = 64) -> tuple[np.ndarray, str,
                                                                    list[ToyObject]]:
    """One image [size, size, 3] uint8 BGR, its caption and the objects drawn."""
    img, background = _background(rng, size)
    n = int(rng.integers(1, 3))
    colours = rng.choice(list(COLOURS), n, replace=False)
    objs = []
    for colour, (word, radius, center) in zip(colours, _place(rng, size, n)):
        obj = ToyObject(shape=str(rng.choice(SHAPES)), colour=str(colour), size=word,
                        center=center, radius=radius, angle=float(rng.uniform(0, 2 * math.pi)))
        draw_object(img, obj, COLOURS[obj.colour][::-1])
        objs.append(obj)
    return img, toy_caption(rng, objs, background), objs


def _settings(num_train: int, num_val: int, size: int, seed: int, vocab_size: int,
              context_length: int) -> dict:
    return dict(generator=GENERATOR_VERSION, num_train=num_train, num_val=num_val, size=size,
                seed=seed, vocab_size=vocab_size, context_length=context_length)


def _is_complete(out_dir: str, settings: dict) -> bool:
    path = osp.join(out_dir, 'manifest.json')
    if not osp.isfile(path):
        return False
    with open(path) as f:
        if json.load(f) != settings:
            return False
    names = ['train.jsonl', 'val.jsonl', 'tokenizer.json']
    names += [_image_name('train', i) for i in range(settings['num_train'])]
    names += [_image_name('val', i) for i in range(settings['num_val'])]
    return all(osp.isfile(osp.join(out_dir, n)) for n in names)


def _image_name(split: str, index: int) -> str:
    return f'images/{split}/{index:06d}.png'


def _write_split(out_dir: str, split: str, num: int, size: int, seed: int) -> list[str]:
    """Draw and write ``num`` images and ``{split}.jsonl``; returns the captions."""
    split_id = {'train': 0, 'val': 1}[split]
    img_dir = osp.join(out_dir, 'images', split)
    os.makedirs(img_dir, exist_ok=True)
    keep = {osp.basename(_image_name(split, i)) for i in range(num)}
    for name in os.listdir(img_dir):
        if name.endswith('.png') and name not in keep:
            os.remove(osp.join(img_dir, name))
    captions, lines = [], []
    for i in range(num):
        img, caption, objs = make_sample(np.random.default_rng([seed, split_id, i]), size)
        name = _image_name(split, i)
        if not cv2.imwrite(osp.join(out_dir, name), img):
            raise OSError(f'could not write {osp.join(out_dir, name)}')
        captions.append(caption)
        lines.append(json.dumps(dict(image=name, caption=caption,
                                     objects=[asdict(o) for o in objs])))
    with open(osp.join(out_dir, f'{split}.jsonl'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return captions


def make_toy_captions(out_dir: str, num_train: int = 2000, num_val: int = 200, size: int = 64,
                      seed: int = 0, vocab_size: int = 512, context_length: int = 32,
                      force: bool = False) -> bool:
    """Write the toy caption set to ``out_dir`` (layout in the module docstring).

    Skips the work and returns ``False`` when ``out_dir`` already holds a complete set made with
    the same settings (unless ``force``); otherwise (re)writes everything and returns ``True``.
    """
    if min(num_train, num_val) < 1 or size < 16 or seed < 0:
        raise ValueError(f'need num_train >= 1, num_val >= 1, size >= 16 and seed >= 0, got '
                         f'{num_train}, {num_val}, {size}, {seed}')
    settings = _settings(num_train, num_val, size, seed, vocab_size, context_length)
    if not force and _is_complete(out_dir, settings):
        return False
    os.makedirs(out_dir, exist_ok=True)
    manifest = osp.join(out_dir, 'manifest.json')
    if osp.isfile(manifest):
        os.remove(manifest)
    captions = _write_split(out_dir, 'train', num_train, size, seed)
    _write_split(out_dir, 'val', num_val, size, seed)
    BPETokenizer.train(captions, vocab_size, osp.join(out_dir, 'tokenizer.json'),
                       context_length)
    with open(manifest, 'w') as f:
        json.dump(settings, f, indent=1)
    return True


def make_toy_classes(out_dir: str, num_per_class: int = 4, size: int = 64,
                     seed: int = 0) -> list[str]:
    """Write ``num_per_class`` images of one shape for each colour x shape class into
    ``out_dir/<colour>_<shape>/`` and the class names to ``out_dir/classes.txt``; returns the
    class folder names in sorted (label) order.

    Images are drawn like :func:`make_sample`'s one-shape scenes, from
    ``np.random.default_rng([seed, 2, class index, i])``, so they differ from the caption set's."""
    if num_per_class < 1 or size < 16 or seed < 0:
        raise ValueError(f'need num_per_class >= 1, size >= 16 and seed >= 0, got '
                         f'{num_per_class}, {size}, {seed}')
    classes = sorted(f'{c}_{s}' for c in COLOURS for s in SHAPES)
    for k, name in enumerate(classes):
        colour, shape = name.split('_')
        folder = osp.join(out_dir, name)
        os.makedirs(folder, exist_ok=True)
        for i in range(num_per_class):
            rng = np.random.default_rng([seed, 2, k, i])
            img, _ = _background(rng, size)
            (word, radius, center), = _place(rng, size, 1)
            obj = ToyObject(shape=shape, colour=colour, size=word, center=center, radius=radius,
                            angle=float(rng.uniform(0, 2 * math.pi)))
            draw_object(img, obj, COLOURS[colour][::-1])
            path = osp.join(folder, f'{i:03d}.png')
            if not cv2.imwrite(path, img):
                raise OSError(f'could not write {path}')
    with open(osp.join(out_dir, 'classes.txt'), 'w') as f:
        f.write(''.join(name.replace('_', ' ') + '\n' for name in classes))
    return classes
