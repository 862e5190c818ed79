"""A small procedurally drawn world for the open-vocabulary experiment.

Each class is a coloured shape (``'pink_star'``, read as "pink star" in prompts), drawn with the
toy caption generator's shapes (:mod:`mammut_det.datasets.toy_captions`) in its colours and a few
more (:data:`EXTRA_COLOURS`). Each class has an LVIS frequency: *frequent* (``'f'``), *common*
(``'c'``, drawn less often in detection training) or *rare* (``'r'``: no box in detection
training, but named in the pretraining captions and present in the evaluation split). The default
classes give every class its own colour, and every rare class a colour no other class has and a
shape that base classes have. The reason is what the tiny preset can learn on two CPU cores: in
1200 pretraining iterations (and in 2000 supervised ones) its ViT learns colour perfectly but
tells four shapes apart only about 40% of the time (25% is chance), so in pixels a class is named
by its colour, and a rare class can only be found through what the captions taught about it.
:func:`grid_classes` makes the full colour x shape table instead (rare classes on a diagonal),
where shape tells classes apart, for a larger model or budget.

Scenes have a grey-level background (plain or noisy), achromatic clutter (grey shapes and lines,
some drawn over the objects) and objects that may partly occlude each other (each keeps at least
:data:`MIN_VISIBLE` of its area visible; its box and mask are those of its visible pixels).

The files of a world are written by :mod:`.world_files`.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields

import cv2
import numpy as np

from ..datasets.toy_captions import (
    BACKGROUNDS,
    COLOURS,
    SHAPES,
    ToyObject,
    draw_object,
)

#: 2: the tokenizer also learns the VQA questions' words
WORLD_VERSION = 2
FREQUENCY_CODES = ('f', 'c', 'r')
#: colours beyond the toy generator's (RGB), far from them and from the grey backgrounds
EXTRA_COLOURS: dict[str, tuple[int, int, int]] = {
    'brown': (140, 80, 30), 'lime': (165, 235, 40), 'teal': (0, 125, 125),
    'magenta': (235, 20, 235),
}
PALETTE = {**COLOURS, **EXTRA_COLOURS}
#: (colour, shape, frequency) of the default world: one colour per class; the rare classes have
#: colours of their own and shapes that base classes have
DEFAULT_CLASSES: tuple[tuple[str, str, str], ...] = (
    ('red', 'circle', 'f'), ('green', 'square', 'f'), ('blue', 'triangle', 'f'),
    ('yellow', 'star', 'f'), ('purple', 'cross', 'f'),
    ('orange', 'diamond', 'c'), ('cyan', 'hexagon', 'c'), ('brown', 'circle', 'c'),
    ('pink', 'star', 'r'), ('lime', 'triangle', 'r'), ('teal', 'square', 'r'),
    ('magenta', 'hexagon', 'r'),
)
#: a partly hidden object keeps at least this fraction of its pixels visible
MIN_VISIBLE = 0.6


@dataclass(frozen=True)
class WorldClass:
    """One class: ``name`` (``'{colour}_{shape}'``), its colour, shape and LVIS frequency."""

    name: str
    colour: str
    shape: str
    frequency: str


@dataclass
class WorldSettings:
    """What :func:`~.world_files.make_world` draws. Sizes are image sides in pixels;
    ``*_radius`` the range of an object's circumradius as a fraction of the side;
    ``common_weight`` how often a common class is drawn in detection training relative to a
    frequent one."""

    classes: tuple[tuple[str, str, str], ...] = DEFAULT_CLASSES
    num_pretrain: int = 6000
    num_pretrain_val: int = 200
    pretrain_size: int = 64
    pretrain_radius: tuple[float, float] = (0.14, 0.3)
    pretrain_max_objects: int = 2
    num_det_train: int = 600
    num_det_val: int = 150
    num_infer: int = 8
    det_size: int = 128
    det_radius: tuple[float, float] = (0.08, 0.2)
    max_objects: int = 5
    max_clutter: int = 3
    common_weight: float = 0.3
    seed: int = 0
    vocab_size: int = 512
    context_length: int = 32
    version: int = field(default=WORLD_VERSION)

    def __post_init__(self) -> None:
        self.classes = tuple(tuple(c) for c in self.classes)
        self.pretrain_radius = tuple(float(r) for r in self.pretrain_radius)
        self.det_radius = tuple(float(r) for r in self.det_radius)
        check_classes(self.classes)
        counts = dict(num_pretrain=self.num_pretrain, num_pretrain_val=self.num_pretrain_val,
                      num_det_train=self.num_det_train, num_det_val=self.num_det_val,
                      num_infer=self.num_infer, max_objects=self.max_objects)
        small = {k: v for k, v in counts.items() if v < 1}
        if small:
            raise ValueError(f'WorldSettings: these must be >= 1: {small}')
        if self.max_objects < 2 or self.pretrain_max_objects not in (1, 2):
            raise ValueError(f'WorldSettings: need max_objects >= 2 and pretrain_max_objects 1 or '
                             f'2, got {self.max_objects} and {self.pretrain_max_objects}')
        if min(self.pretrain_size, self.det_size) < 32 or self.seed < 0:
            raise ValueError('WorldSettings: image sizes must be >= 32 and seed >= 0')
        for name in ('pretrain_radius', 'det_radius'):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi <= 0.45:
                raise ValueError(f'WorldSettings.{name} must satisfy 0 < lo <= hi <= 0.45, got '
                                 f'{(lo, hi)}')
        if not 0 < self.common_weight <= 1:
            raise ValueError(f'WorldSettings.common_weight must be in (0, 1], got '
                             f'{self.common_weight}')

    def to_dict(self) -> dict:
        """The settings as plain JSON data (tuples as lists)."""
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, data: dict) -> WorldSettings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise KeyError(f'WorldSettings: unknown settings {unknown}')
        return cls(**data)


def check_classes(classes: tuple[tuple[str, str, str], ...]) -> None:
    """Raise ``ValueError`` unless every entry is a known (colour, shape, frequency), no class
    repeats, and there are base (f/c) and rare classes."""
    for i, entry in enumerate(classes):
        if len(entry) != 3:
            raise ValueError(f'WorldSettings.classes[{i}] must be (colour, shape, frequency), '
                             f'got {entry!r}')
        colour, shape, freq = entry
        if colour not in PALETTE or shape not in SHAPES or freq not in FREQUENCY_CODES:
            raise ValueError(f'WorldSettings.classes[{i}] = {entry!r}: colours are '
                             f'{tuple(PALETTE)}, shapes {SHAPES}, frequencies {FREQUENCY_CODES}')
    pairs = [(c, s) for c, s, _ in classes]
    if len(set(pairs)) != len(pairs):
        raise ValueError(f'WorldSettings.classes: a colour-shape pair repeats in {pairs}')
    freqs = {f for _, _, f in classes}
    if 'r' not in freqs or not freqs & {'f', 'c'}:
        raise ValueError('WorldSettings.classes: need rare classes and base (f or c) classes')


def world_classes(classes: tuple[tuple[str, str, str], ...] = DEFAULT_CLASSES
                  ) -> list[WorldClass]:
    """:class:`WorldClass` objects of (colour, shape, frequency) triples, in category order."""
    check_classes(classes)
    return [WorldClass(f'{c}_{s}', c, s, f) for c, s, f in classes]


def grid_classes(colours: tuple[str, ...], shapes: tuple[str, ...]
                 ) -> tuple[tuple[str, str, str], ...]:
    """The full colour x shape table, colour-major: colour ``i`` is rare with shape ``i % S`` and
    common with shape ``(i + 1) % S``, every other pair frequent; so each rare class combines a
    colour and a shape that base classes have."""
    if len(set(colours)) < 2 or len(set(shapes)) < 3:
        raise ValueError('grid_classes: need at least 2 colours and 3 shapes so that every rare '
                         'class is made of seen parts')
    return tuple((c, s, 'r' if j == i % len(shapes) else 'c' if j == (i + 1) % len(shapes)
                  else 'f') for i, c in enumerate(colours) for j, s in enumerate(shapes))


@dataclass
class SceneObject:
    """A drawn object of class ``name``; ``bbox`` [x, y, w, h], ``area`` and ``polygons`` (flat
    x, y lists) describe its visible pixels."""

    name: str
    toy: ToyObject
    bbox: list[float]
    area: float
    polygons: list[list[float]]


def _grey_away_from(rng: np.random.Generator, level: int, gap: int = 50) -> int:
    """A grey level in [15, 240] at least ``gap`` away from the background ``level``."""
    choices = [v for v in range(15, 241) if abs(v - level) >= gap]
    return int(rng.choice(choices))


def _clutter(rng: np.random.Generator, img: np.ndarray, level: int, mask: np.ndarray) -> None:
    """Draw one achromatic distractor, a small grey shape or a line, into ``img`` [H, W, 3] and
    set its pixels in ``mask`` [H, W]."""
    size = img.shape[0]
    grey = _grey_away_from(rng, level)
    if rng.random() < 0.5:
        radius = float(rng.uniform(0.03, 0.07) * size)
        center = tuple(float(c) for c in rng.uniform(radius, size - radius, 2))
        obj = ToyObject(str(rng.choice(SHAPES)), 'grey', 'small', center, radius,
                        float(rng.uniform(0, 2 * math.pi)))
        draw_object(img, obj, (grey,) * 3)
        draw_object(mask, obj, (255,))
    else:
        p, q = (tuple(int(v) for v in rng.integers(0, size, 2)) for _ in range(2))
        thickness = int(rng.integers(1, 3))
        cv2.line(img, p, q, (grey,) * 3, thickness, cv2.LINE_AA)
        cv2.line(mask, p, q, 255, thickness, cv2.LINE_AA)


def _object_mask(obj: ToyObject, size: int) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    draw_object(mask, obj, (255,))
    return mask > 127


def _describe(name: str, toy: ToyObject, visible: np.ndarray) -> SceneObject:
    ys, xs = np.nonzero(visible)
    x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
    contours, _ = cv2.findContours(visible.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    polygons = [c.reshape(-1).astype(float).tolist() for c in contours if len(c) >= 3]
    if not polygons:
        polygons = [[x0, y0, x1, y0, x1, y1, x0, y1]]
    return SceneObject(name, toy, [x0, y0, x1 - x0, y1 - y0], float(visible.sum()), polygons)


def draw_scene(rng: np.random.Generator, size: int, classes: list[WorldClass],
               weights: np.ndarray, num_objects: int, radius: tuple[float, float],
               max_clutter: int) -> tuple[np.ndarray, str, list[SceneObject]]:
    """One scene: image [size, size, 3] uint8 BGR, its background name and its objects.

    Objects are drawn from ``classes`` with probabilities ``weights`` (with repeats). A placement
    that would hide more than ``1 - MIN_VISIBLE`` of an earlier object is redrawn (up to 50
    times, then the object is left out), so a scene may hold fewer than ``num_objects``.
    """
    background = str(rng.choice(list(BACKGROUNDS)))
    level = BACKGROUNDS[background]
    img = np.full((size, size, 3), level, np.float32)
    if rng.random() < 0.5:
        img += rng.normal(0.0, rng.uniform(2.0, 8.0), img.shape)
    img = np.clip(np.round(img), 0, 255).astype(np.uint8)
    n_clutter = int(rng.integers(0, max_clutter + 1))
    n_over = int(rng.integers(0, n_clutter + 1)) if n_clutter else 0
    for _ in range(n_clutter - n_over):
        _clutter(rng, img, level, np.zeros((size, size), np.uint8))
    probs = np.asarray(weights, np.float64) / np.sum(weights)
    placed: list[tuple[str, ToyObject, np.ndarray, float]] = []  # name, toy, visible, full area
    for _ in range(num_objects):
        cls = classes[int(rng.choice(len(classes), p=probs))]
        for _attempt in range(50):
            r = float(rng.uniform(*radius) * size)
            center = tuple(float(c) for c in rng.uniform(r + 1, size - r - 1, 2))
            word = 'small' if r < size * sum(radius) / 2 else 'large'
            toy = ToyObject(cls.shape, cls.colour, word, center, r,
                            float(rng.uniform(0, 2 * math.pi)))
            mask = _object_mask(toy, size)
            if all((vis & ~mask).sum() >= MIN_VISIBLE * full for _, _, vis, full in placed):
                break
        else:
            continue
        for entry in placed:
            entry[2][mask] = False
        placed.append((cls.name, toy, mask.copy(), float(mask.sum())))
        draw_object(img, toy, PALETTE[cls.colour][::-1])
    over = np.zeros((size, size), np.uint8)
    for _ in range(n_over):
        _clutter(rng, img, level, over)
    objects = []
    for name, toy, visible, _ in placed:
        visible &= over < 128
        if visible.any():
            objects.append(_describe(name, toy, visible))
    return img, background, objects


def class_weights(classes: list[WorldClass], split: str, common_weight: float) -> np.ndarray:
    """Sampling weights of ``classes`` in a split: detection training draws frequent classes with
    weight 1, common ones with ``common_weight`` and rare ones never; every other split draws all
    classes alike."""
    if split != 'det_train':
        return np.ones(len(classes))
    table = {'f': 1.0, 'c': common_weight, 'r': 0.0}
    return np.array([table[c.frequency] for c in classes])
