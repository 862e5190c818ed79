"""Writing a world's files: captioned pretraining scenes, LVIS annotations, held-out images,
the class list and a tokenizer, and the manifest that lets a later run reuse them.

Output of :func:`make_world` under ``out_dir``::

    pretrain/images/{train,val}/000000.png   pretraining scenes (1-2 objects, every class)
    pretrain/{train,val}.jsonl               {"image", "caption", "objects"} (CaptionDataset)
    detection/{train,val}/000001.png         detection scenes
    annotations/lvis_v1_{train,val}.json     LVIS v1 format; train: base classes only
    infer/000000.png                         held-out scenes (every class), no annotations
    infer_objects.json                       what each held-out scene shows (for the report)
    classes.txt                              class names, one a line, in category-id order
    tokenizer.json                           byte-level BPE trained on captions, class names and
                                             the words of the VQA questions (:mod:`.world_vqa`)
    manifest.json                            the settings, written last; equal settings skip

Every image is drawn from ``np.random.default_rng([seed, split, index])``, so one seed gives
byte-identical files, and the splits are independent draws.
"""
from __future__ import annotations

import json
import os
import os.path as osp

import cv2
import numpy as np

from ..datasets.toy_captions import toy_caption
from ..detection.vocabulary import prompt_name
from ..text import BPETokenizer
from ..vqa.toy import question_vocabulary
from .world import (
    WORLD_VERSION,
    SceneObject,
    WorldSettings,
    class_weights,
    draw_scene,
    world_classes,
)
from .world_vqa import WORLD_VQA_KINDS, world_words

#: split ids of the random streams
SPLITS = {'pretrain_train': 0, 'pretrain_val': 1, 'det_train': 2, 'det_val': 3, 'infer': 4}
COCO_URL = 'http://images.cocodataset.org/'  # mmdet's LVISV1Dataset reads paths from coco_url


class WorldWriter:
    """Writes the splits of one world; see :func:`make_world`."""

    def __init__(self, out_dir: str, settings: WorldSettings) -> None:
        self.out_dir = out_dir
        self.s = settings
        self.classes = world_classes(settings.classes)

    def _rng(self, split: str, index: int) -> np.random.Generator:
        return np.random.default_rng([self.s.seed, SPLITS[split], index])

    def _write_image(self, rel: str, img: np.ndarray) -> None:
        path = osp.join(self.out_dir, rel)
        os.makedirs(osp.dirname(path), exist_ok=True)
        if not cv2.imwrite(path, img):
            raise OSError(f'could not write {path}')

    def pretrain_split(self, split: str, num: int) -> list[str]:
        """Scenes of one or two objects of any class with toy-style captions naming every
        object; writes ``pretrain/{split}.jsonl`` and returns the captions."""
        weights = class_weights(self.classes, f'pretrain_{split}', self.s.common_weight)
        lines, captions = [], []
        for i in range(num):
            rng = self._rng(f'pretrain_{split}', i)
            num = int(rng.integers(1, self.s.pretrain_max_objects + 1))
            img, background, objs = draw_scene(rng, self.s.pretrain_size, self.classes, weights,
                                               num, self.s.pretrain_radius,
                                               min(self.s.max_clutter, 2))
            rel = f'images/{split}/{i:06d}.png'
            self._write_image(osp.join('pretrain', rel), img)
            caption = toy_caption(rng, [o.toy for o in objs], background)
            captions.append(caption)
            lines.append(json.dumps(dict(image=rel, caption=caption,
                                         objects=[o.name for o in objs])))
        with open(osp.join(self.out_dir, 'pretrain', f'{split}.jsonl'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
        return captions

    def _scene(self, split: str, index: int) -> tuple[np.ndarray, list[SceneObject]]:
        rng = self._rng(split, index)
        weights = class_weights(self.classes, split, self.s.common_weight)
        img, _, objs = draw_scene(rng, self.s.det_size, self.classes, weights,
                                  int(rng.integers(2, self.s.max_objects + 1)),
                                  self.s.det_radius, self.s.max_clutter)
        return img, objs

    def detection_split(self, split: str, num: int) -> dict:
        """LVIS v1 annotations of ``num`` scenes (``split`` 'train' or 'val'); every class absent
        from an image is a verified negative of it, none is marked not exhaustive."""
        cat_id = {c.name: i + 1 for i, c in enumerate(self.classes)}
        images, annotations = [], []
        for i in range(num):
            img, objs = self._scene(f'det_{split}', i)
            rel = f'detection/{split}/{i + 1:06d}.png'
            self._write_image(rel, img)
            present = {cat_id[o.name] for o in objs}
            images.append(dict(id=i + 1, width=self.s.det_size, height=self.s.det_size,
                               file_name=rel, coco_url=COCO_URL + rel,
                               neg_category_ids=sorted(set(cat_id.values()) - present),
                               not_exhaustive_category_ids=[]))
            for o in objs:
                annotations.append(dict(id=len(annotations) + 1, image_id=i + 1,
                                        category_id=cat_id[o.name], bbox=o.bbox, area=o.area,
                                        segmentation=o.polygons))
        return dict(info=dict(description=f'shapes world {split}', version=WORLD_VERSION),
                    images=images, annotations=annotations, categories=[])

    def categories(self, train: dict) -> list[dict]:
        """LVIS categories; ``image_count`` and ``instance_count`` count the training split."""
        cats = []
        for i, c in enumerate(self.classes, start=1):
            anns = [a for a in train['annotations'] if a['category_id'] == i]
            words = prompt_name(c.name)
            cats.append({'id': i, 'name': c.name, 'synset': f'{c.name}.n.01',
                         'synonyms': [c.name], 'frequency': c.frequency,
                         'def': f'a {words} drawn on a plain background',
                         'image_count': len({a['image_id'] for a in anns}),
                         'instance_count': len(anns)})
        return cats

    def infer_split(self, num: int) -> list[dict]:
        """Held-out scenes under ``infer/``; returns what each shows."""
        truth = []
        for i in range(num):
            img, objs = self._scene('infer', i)
            rel = f'infer/{i:06d}.png'
            self._write_image(rel, img)
            truth.append(dict(image=rel, objects=[dict(name=o.name, bbox=o.bbox) for o in objs]))
        return truth


def _expected_files(out_dir: str, s: WorldSettings) -> list[str]:
    names = ['pretrain/train.jsonl', 'pretrain/val.jsonl', 'annotations/lvis_v1_train.json',
             'annotations/lvis_v1_val.json', 'infer_objects.json', 'classes.txt',
             'tokenizer.json']
    names += [f'pretrain/images/train/{i:06d}.png' for i in range(s.num_pretrain)]
    names += [f'pretrain/images/val/{i:06d}.png' for i in range(s.num_pretrain_val)]
    names += [f'detection/train/{i + 1:06d}.png' for i in range(s.num_det_train)]
    names += [f'detection/val/{i + 1:06d}.png' for i in range(s.num_det_val)]
    names += [f'infer/{i:06d}.png' for i in range(s.num_infer)]
    return [osp.join(out_dir, n) for n in names]


def is_complete(out_dir: str, settings: WorldSettings) -> bool:
    """Whether ``out_dir`` holds a whole world made with ``settings``."""
    path = osp.join(out_dir, 'manifest.json')
    if not osp.isfile(path):
        return False
    with open(path) as f:
        if json.load(f) != settings.to_dict():
            return False
    return all(osp.isfile(p) for p in _expected_files(out_dir, settings))


def _clear_images(out_dir: str) -> None:
    """Remove the PNGs of an earlier world so that no stale image survives a smaller one."""
    for sub in ('pretrain/images/train', 'pretrain/images/val', 'detection/train',
                'detection/val', 'infer'):
        folder = osp.join(out_dir, sub)
        if osp.isdir(folder):
            for name in os.listdir(folder):
                if name.endswith('.png'):
                    os.remove(osp.join(folder, name))


def make_world(out_dir: str, settings: WorldSettings | None = None, force: bool = False) -> bool:
    """Write the world (layout in the module docstring) to ``out_dir``.

    Returns ``False`` without touching anything when ``out_dir`` already holds a complete world
    with the same settings (unless ``force``), ``True`` after (re)writing it.
    """
    s = settings or WorldSettings()
    if not force and is_complete(out_dir, s):
        return False
    os.makedirs(out_dir, exist_ok=True)
    manifest = osp.join(out_dir, 'manifest.json')
    if osp.isfile(manifest):
        os.remove(manifest)
    _clear_images(out_dir)
    writer = WorldWriter(out_dir, s)
    captions = writer.pretrain_split('train', s.num_pretrain)
    writer.pretrain_split('val', s.num_pretrain_val)
    os.makedirs(osp.join(out_dir, 'annotations'), exist_ok=True)
    train = writer.detection_split('train', s.num_det_train)
    val = writer.detection_split('val', s.num_det_val)
    cats = writer.categories(train)
    for split, data in (('train', train), ('val', val)):
        data['categories'] = cats
        with open(osp.join(out_dir, 'annotations', f'lvis_v1_{split}.json'), 'w') as f:
            json.dump(data, f)
    with open(osp.join(out_dir, 'infer_objects.json'), 'w') as f:
        json.dump(writer.infer_split(s.num_infer), f, indent=1)
    with open(osp.join(out_dir, 'classes.txt'), 'w') as f:
        f.write('\n'.join(c.name for c in writer.classes) + '\n')
    names = [prompt_name(c.name) for c in writer.classes]
    questions = question_vocabulary(*world_words(s), WORLD_VQA_KINDS)
    BPETokenizer.train(captions + names + questions, s.vocab_size,
                       osp.join(out_dir, 'tokenizer.json'), s.context_length)
    with open(manifest, 'w') as f:
        json.dump(s.to_dict(), f, indent=1)
    return True
