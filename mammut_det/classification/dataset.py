"""Labelled images for zero-shot classification: a folder per class, or a list file.

Two layouts, as in MMPretrain's ``CustomDataset`` and torchvision's ``ImageFolder``:

- ``ann_file=''``: every sub-folder of ``data_prefix['img_path']`` (under ``data_root``) is a
  class, in sorted order; its images (any depth) are the samples.
- ``ann_file='meta/val.txt'``: one ``<image path> <label>`` line per sample (path relative to
  ``data_prefix['img_path']``, label an index into ``classes``), the ImageNet ``val.txt`` format.

``classes`` gives the names the text decoder reads (a list, a text file with one name a line, or
a comma-separated string; see :func:`mammut_det.detection.load_vocabulary`), in label order. With
the folder layout it may be left out, and the folder names are the class names; given, it must
have one name per folder (ImageNet's folders are WordNet ids, its names are not).
"""
from __future__ import annotations

import os
import os.path as osp
from collections.abc import Sequence
from typing import Any

from mmengine.dataset import BaseDataset
from mmengine.fileio import get_text
from mmengine.registry import DATASETS

from ..detection.vocabulary import load_vocabulary

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp')


@DATASETS.register_module()
class ImageClassDataset(BaseDataset):
    """Images with one class label each. A data info holds ``img_path``, ``gt_label`` (int),
    ``img_id`` (the path relative to the image folder); ``metainfo['classes']`` the names.

    Args:
        classes: class names in label order (sequence, text file or comma-separated string);
            optional with the folder layout.
        ann_file: ``''`` for the folder layout, else the ``<path> <label>`` list file (joined to
            ``data_root`` when relative).
        extensions: image file endings the folder layout picks up (case-insensitive).
        **kwargs: :class:`mmengine.dataset.BaseDataset` arguments (``data_root``,
            ``data_prefix``, ``pipeline``, ``test_mode``, ``indices``, ...).
    """

    def __init__(self, classes: str | Sequence[str] | None = None, ann_file: str = '',
                 extensions: Sequence[str] = IMG_EXTENSIONS, **kwargs: Any) -> None:
        self.class_spec = classes
        self.extensions = tuple(e.lower() for e in extensions)
        super().__init__(ann_file=ann_file, **kwargs)

    def _image_root(self) -> str:
        root = self.data_prefix.get('img_path', '') or self.data_root or ''
        if not osp.isdir(root):
            raise FileNotFoundError(f'ImageClassDataset: image folder {root!r} does not exist')
        return root

    def load_data_list(self) -> list[dict]:
        root = self._image_root()
        if self.ann_file:
            classes = self._classes(None)
            data_list = self._read_list(root, len(classes))
        else:
            folders = sorted(d for d in os.listdir(root) if osp.isdir(osp.join(root, d)))
            if not folders:
                raise ValueError(f'ImageClassDataset: {root!r} has no class sub-folders')
            classes = self._classes(folders)
            data_list = self._scan(root, folders)
        self._metainfo['classes'] = classes
        return data_list

    def _classes(self, folders: list[str] | None) -> tuple[str, ...]:
        if self.class_spec is None:
            if folders is None:
                raise ValueError('ImageClassDataset: classes is required with an ann_file')
            return load_vocabulary(folders)
        classes = load_vocabulary(self.class_spec)
        if folders is not None and len(classes) != len(folders):
            raise ValueError(f'ImageClassDataset: {len(classes)} class names for {len(folders)} '
                             f'class folders in {self.data_prefix.get("img_path", "")!r}')
        return classes

    def _scan(self, root: str, folders: list[str]) -> list[dict]:
        data_list = []
        for label, folder in enumerate(folders):
            found = []
            for dirpath, dirnames, files in os.walk(osp.join(root, folder)):
                dirnames.sort()
                found += [osp.join(dirpath, f) for f in sorted(files)
                          if f.lower().endswith(self.extensions)]
            if not found:
                raise ValueError(f'ImageClassDataset: class folder {osp.join(root, folder)!r} '
                                 f'has no images ({", ".join(self.extensions)})')
            data_list += [dict(img_path=p, gt_label=label, img_id=osp.relpath(p, root))
                          for p in found]
        return data_list

    def _read_list(self, root: str, num_classes: int) -> list[dict]:
        data_list = []
        for lineno, line in enumerate(get_text(self.ann_file).splitlines(), start=1):
            if not line.strip():
                continue
            where = f'{self.ann_file}:{lineno}'
            parts = line.rsplit(maxsplit=1)
            if len(parts) != 2 or not parts[1].lstrip('-').isdigit():
                raise ValueError(f'{where}: expected "<image path> <label>", got {line!r}')
            label = int(parts[1])
            if not 0 <= label < num_classes:
                raise ValueError(f'{where}: label {label} is not in [0, {num_classes})')
            path = osp.join(root, parts[0])
            if not osp.isfile(path):
                raise FileNotFoundError(f'{where}: image file not found: {path}')
            data_list.append(dict(img_path=path, gt_label=label, img_id=parts[0]))
        if not data_list:
            raise ValueError(f'{self.ann_file}: no samples')
        return data_list
