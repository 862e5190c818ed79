"""A toy LVIS v1-format detection set (coloured shapes drawn with OpenCV) for tests and demos.

``python -m mammut_det.detection.toy_lvis data/toy_lvis`` writes ``train2017/``, ``val2017/``,
``annotations/lvis_v1_{train,val}.json`` and a BPE ``tokenizer.json`` trained on the prompts.
The classes cover the three LVIS frequencies (two of them rare), images list every absent class
as a verified negative, and every class appears in both splits.
"""
from __future__ import annotations

import argparse
import json
import os

import cv2
import numpy as np

#: (name, LVIS frequency, BGR colour, shape)
TOY_CATEGORIES = (
    ('red_square', 'f', (40, 40, 220), 'square'),
    ('green_circle', 'f', (60, 200, 60), 'circle'),
    ('blue_triangle', 'c', (220, 80, 40), 'triangle'),
    ('yellow_square', 'c', (40, 220, 230), 'square'),
    ('white_circle', 'r', (245, 245, 245), 'circle'),
    ('purple_triangle', 'r', (200, 40, 170), 'triangle'),
)
TOY_LVIS_CLASSES = tuple(c[0] for c in TOY_CATEGORIES)


def _draw(img: np.ndarray, shape: str, colour: tuple, x: int, y: int, s: int) -> list[float]:
    """Draw a shape in the box (x, y, s, s); returns the polygon of its box."""
    if shape == 'square':
        cv2.rectangle(img, (x, y), (x + s - 1, y + s - 1), colour, -1)
    elif shape == 'circle':
        cv2.circle(img, (x + s // 2, y + s // 2), s // 2, colour, -1)
    else:
        pts = np.array([[x + s // 2, y], [x, y + s - 1], [x + s - 1, y + s - 1]], np.int32)
        cv2.fillPoly(img, [pts], colour)
    return [x, y, x + s, y, x + s, y + s, x, y + s]


def _make_split(root: str, split: str, num_images: int, image_size: int,
                rng: np.random.Generator, first_id: int) -> dict:
    folder = os.path.join(root, f'{split}2017')
    os.makedirs(folder, exist_ok=True)
    images, annotations = [], []
    k = len(TOY_CATEGORIES)
    for j in range(num_images):
        img_id = first_id + j
        img = rng.integers(90, 140, size=(image_size, image_size, 3), dtype=np.uint8)
        present, boxes = set(), []
        for i in range(int(rng.integers(1, 4))):
            cat = (j + i * 2) % k
            s = int(rng.integers(image_size // 6, image_size // 2.5))
            for _ in range(20):  # avoid heavy overlap
                x, y = (int(v) for v in rng.integers(0, image_size - s, size=2))
                if all(x + s <= bx or bx + bs <= x or y + s <= by or by + bs <= y
                       for bx, by, bs in boxes):
                    break
            boxes.append((x, y, s))
            name, _, colour, shape = TOY_CATEGORIES[cat]
            poly = _draw(img, shape, colour, x, y, s)
            present.add(cat + 1)
            annotations.append(dict(id=len(annotations) + 1 + first_id * 100, image_id=img_id,
                                    category_id=cat + 1, bbox=[x, y, s, s], area=float(s * s),
                                    segmentation=[poly]))
        rel = f'{split}2017/{img_id:012d}.jpg'
        cv2.imwrite(os.path.join(root, rel), img)
        images.append(dict(id=img_id, width=image_size, height=image_size, file_name=rel,
                           coco_url=f'http://images.cocodataset.org/{rel}',
                           neg_category_ids=sorted(set(range(1, k + 1)) - present),
                           not_exhaustive_category_ids=[]))
    categories = []
    for c, (name, freq, _, _) in enumerate(TOY_CATEGORIES, start=1):
        anns = [a for a in annotations if a['category_id'] == c]
        categories.append({'id': c, 'name': name, 'synset': f'{name}.n.01', 'synonyms': [name],
                           'frequency': freq, 'def': f'a {name.replace("_", " ")}',
                           'image_count': len({a['image_id'] for a in anns}),
                           'instance_count': len(anns)})
    return dict(images=images, annotations=annotations, categories=categories)


def make_toy_lvis(root: str, num_train: int = 24, num_val: int = 8, image_size: int = 128,
                  seed: int = 0, tokenizer: bool = True) -> dict[str, str]:
    """Write the toy set under ``root``; returns the paths of the two annotation files (and the
    tokenizer)."""
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(root, 'annotations'), exist_ok=True)
    paths = {}
    for split, n, first in (('train', num_train, 1), ('val', num_val, 100000)):
        data = _make_split(root, split, n, image_size, rng, first)
        path = os.path.join(root, 'annotations', f'lvis_v1_{split}.json')
        with open(path, 'w') as f:
            json.dump(data, f)
        paths[split] = path
    if tokenizer:
        from ..text import BPETokenizer
        from .vocabulary import DEFAULT_TEMPLATES, prompt_name
        texts = [t.format(prompt_name(n)) for n in TOY_LVIS_CLASSES for t in DEFAULT_TEMPLATES]
        paths['tokenizer'] = os.path.join(root, 'tokenizer.json')
        BPETokenizer.train(texts, vocab_size=320, save_path=paths['tokenizer'])
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('root', help='output folder, e.g. data/toy_lvis')
    parser.add_argument('--num-train', type=int, default=24)
    parser.add_argument('--num-val', type=int, default=8)
    parser.add_argument('--image-size', type=int, default=128)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    paths = make_toy_lvis(args.root, args.num_train, args.num_val, args.image_size, args.seed)
    print('\n'.join(f'{k}: {v}' for k, v in paths.items()))


if __name__ == '__main__':
    main()
