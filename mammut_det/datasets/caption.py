"""Image-caption pairs from a plain annotation file, for MaMMUT pretraining.

Three formats (picked from the file name by ``ann_format='auto'``):

- ``.jsonl``: one JSON object per line, ``{"image": "a/b.png", "caption": "a red circle"}``;
  blank lines are ignored.
- ``.csv``: a header row naming the image and caption columns, one sample per row.
- ``.json``: COCO captions, ``{"images": [{"id", "file_name"}], "annotations": [{"id",
  "image_id", "caption"}]}``; one sample per caption.

Image paths are relative to ``data_prefix['img_path']``, or to the annotation file's folder when
that is empty. A bad sample (a missing key, an empty caption, a malformed line, a missing image
file) raises an error naming the annotation file and its line (COCO: the annotation id), or with
``on_bad_sample='skip'`` is logged as a warning and dropped, with a count at the end.

With a ``tokenizer``, captions are tokenised in the data workers (a :class:`TokenizeCaption` step
runs first in the pipeline; the packed sample carries ``text_tokens``), and captions longer than
its context are reported with their file and line; the tokenizer truncates them (open_clip's
rule, see :class:`mammut_det.text.BaseTokenizer`).
"""
from __future__ import annotations

import csv
import io
import json
import logging
import os.path as osp
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from mmengine.dataset import BaseDataset
from mmengine.fileio import exists, get_text, join_path
from mmengine.logging import print_log
from mmengine.registry import DATASETS

from ..registry import TOKENIZERS
from ..text.base import BaseTokenizer
from .transforms import TokenizeCaption

FORMATS = ('jsonl', 'csv', 'coco')


class BadSample(ValueError):
    """A sample that cannot be used; the message names its file and line or annotation id."""


class MissingImage(FileNotFoundError):
    """A sample whose image file does not exist; the message names the file and line."""


@DATASETS.register_module()
class CaptionDataset(BaseDataset):
    """Image-caption pairs. Each data info holds ``img_path``, ``caption``, ``img_id``,
    ``ann_file`` and ``line`` (1-based line number; ``None`` for COCO, which has ``ann_id``).

    Args:
        ann_file: the annotation file (``.jsonl``, ``.csv`` or COCO ``.json``), joined to
            ``data_root`` when relative.
        ann_format: ``'auto'`` (from the file extension), ``'jsonl'``, ``'csv'`` or ``'coco'``.
        image_key: the image key (JSON lines) or column (CSV).
        caption_key: the caption key (JSON lines) or column (CSV).
        on_bad_sample: ``'error'`` raises on the first bad sample; ``'skip'`` logs and drops it.
        tokenizer: a tokenizer (config dict for ``mammut_det.registry.TOKENIZERS`` or instance):
            the model's, to tokenise captions in the workers and report over-long ones.
        check_files: whether every image file must exist when the annotations are loaded.
        backend_args: MMEngine file backend arguments for the annotation and image files.
        **kwargs: :class:`mmengine.dataset.BaseDataset` arguments (``data_root``,
            ``data_prefix``, ``pipeline``, ``test_mode``, ``indices``, ``lazy_init``, ...).
    """

    def __init__(self, ann_file: str, ann_format: str = 'auto', image_key: str = 'image',
                 caption_key: str = 'caption', on_bad_sample: str = 'error',
                 tokenizer: dict | BaseTokenizer | None = None, check_files: bool = True,
                 backend_args: dict | None = None, **kwargs: Any) -> None:
        if ann_format not in ('auto', *FORMATS):
            raise ValueError(f'CaptionDataset: ann_format must be "auto" or one of {FORMATS}, '
                             f'got {ann_format!r}')
        if on_bad_sample not in ('error', 'skip'):
            raise ValueError(f'CaptionDataset: on_bad_sample must be "error" or "skip", '
                             f'got {on_bad_sample!r}')
        self.ann_format = ann_format
        self.image_key = image_key
        self.caption_key = caption_key
        self.on_bad_sample = on_bad_sample
        self.tokenizer = TOKENIZERS.build(tokenizer) if isinstance(tokenizer, dict) else tokenizer
        self.check_files = check_files
        self.backend_args = backend_args
        self.num_skipped = 0
        self.num_too_long = 0
        super().__init__(ann_file=ann_file, **kwargs)
        if self.tokenizer is not None:
            self.pipeline.transforms.insert(0, TokenizeCaption(self.tokenizer))

    def _resolve_format(self) -> str:
        if self.ann_format != 'auto':
            return self.ann_format
        ext = osp.splitext(self.ann_file)[1].lower()
        by_ext = {'.jsonl': 'jsonl', '.csv': 'csv', '.json': 'coco'}
        if ext not in by_ext:
            raise ValueError(f'{self.ann_file}: cannot tell the annotation format from the '
                             f'extension {ext!r}; expected .jsonl, .csv or .json, or set '
                             f'ann_format to one of {FORMATS}')
        return by_ext[ext]

    def load_data_list(self) -> list[dict]:
        """Parse the annotation file into data infos, checking every sample."""
        if not self.ann_file:
            raise ValueError('CaptionDataset: ann_file is required')
        text = get_text(self.ann_file, backend_args=self.backend_args)
        img_root = self.data_prefix.get('img_path') or osp.dirname(self.ann_file)
        readers = {'jsonl': self._read_jsonl, 'csv': self._read_csv, 'coco': self._read_coco}
        self.num_skipped = self.num_too_long = 0
        data_list, total = [], 0
        for where, make_info in readers[self._resolve_format()](text):
            total += 1
            try:
                info = make_info()
                info['img_path'] = join_path(img_root, info['img_path'])
                if self.check_files and not exists(info['img_path'], self.backend_args):
                    raise MissingImage(f'{where}: image file not found: {info["img_path"]}')
            except (BadSample, MissingImage) as err:
                if self.on_bad_sample == 'error':
                    raise
                self.num_skipped += 1
                print_log(f'skipping bad sample: {err}', logger='current', level=logging.WARNING)
                continue
            self._check_length(where, info['caption'])
            data_list.append(info)
        if self.num_skipped or self.num_too_long:
            print_log(f'{self.ann_file}: kept {len(data_list)} of {total} samples, skipped '
                      f'{self.num_skipped} bad ones; {self.num_too_long} captions are longer than '
                      'the tokenizer context and will be truncated',
                      logger='current', level=logging.WARNING)
        if not data_list:
            raise ValueError(f'{self.ann_file}: no usable samples ({total} read, '
                             f'{self.num_skipped} skipped)')
        return data_list

    def _check_length(self, where: str, caption: str) -> None:
        if self.tokenizer is None:
            return
        n = self.tokenizer.num_tokens(caption)
        if n > self.tokenizer.context_length:
            self.num_too_long += 1
            print_log(f'{where}: caption has {n} tokens, more than the context length '
                      f'{self.tokenizer.context_length}; the tokenizer truncates it',
                      logger='current', level=logging.WARNING)

    def _caption(self, where: str, value: Any) -> str:
        if not isinstance(value, str):
            raise BadSample(f'{where}: caption must be a string, got {type(value).__name__}')
        if not value.strip():
            raise BadSample(f'{where}: empty caption')
        return value.strip()

    def _image(self, where: str, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise BadSample(f'{where}: image path must be a non-empty string, got {value!r}')
        return value.strip()

    def _from_record(self, where: str, line: int, record: Any) -> dict:
        if not isinstance(record, dict):
            raise BadSample(f'{where}: expected an object, got {type(record).__name__}')
        for key in (self.image_key, self.caption_key):
            if record.get(key) is None:
                raise BadSample(f'{where}: missing key {key!r}')
        img_path = self._image(where, record[self.image_key])
        return dict(img_path=img_path, caption=self._caption(where, record[self.caption_key]),
                    img_id=record.get('image_id', img_path), ann_file=self.ann_file, line=line)

    def _read_jsonl(self, text: str) -> Iterator[tuple[str, Callable[[], dict]]]:
        for line, raw in enumerate(text.splitlines(), start=1):
            if not raw.strip():
                continue
            where = f'{self.ann_file}:{line}'
            yield where, partial(self._from_json_line, where, line, raw)

    def _from_json_line(self, where: str, line: int, raw: str) -> dict:
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as err:
            raise BadSample(f'{where}: malformed JSON ({err.msg})') from None
        return self._from_record(where, line, record)

    def _read_csv(self, text: str) -> Iterator[tuple[str, Callable[[], dict]]]:
        reader = csv.DictReader(io.StringIO(text))
        header = reader.fieldnames or []
        missing = [k for k in (self.image_key, self.caption_key) if k not in header]
        if missing:
            raise ValueError(f'{self.ann_file}:1: CSV header {header} lacks the column(s) '
                             f'{missing}; set image_key/caption_key to the column names')
        start = reader.line_num + 1
        for row in reader:
            where = f'{self.ann_file}:{start}'
            yield where, partial(self._from_record, where, start, row)
            start = reader.line_num + 1

    def _read_coco(self, text: str) -> Iterator[tuple[str, Callable[[], dict]]]:
        try:
            coco = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f'{self.ann_file}:{err.lineno}: malformed JSON ({err.msg})') from None
        if not isinstance(coco, dict) or not {'images', 'annotations'} <= coco.keys():
            raise ValueError(f'{self.ann_file}: a COCO captions file needs "images" and '
                             '"annotations" lists')
        files = {}
        for i, img in enumerate(coco['images']):
            if not isinstance(img, dict) or 'id' not in img or 'file_name' not in img:
                raise ValueError(f'{self.ann_file}: images[{i}] needs "id" and "file_name"')
            files[img['id']] = img['file_name']
        for i, ann in enumerate(coco['annotations']):
            ann_id = ann.get('id', f'#{i}') if isinstance(ann, dict) else f'#{i}'
            where = f'{self.ann_file}: annotation id {ann_id}'
            yield where, partial(self._from_coco, where, ann_id, ann, files)

    def _from_coco(self, where: str, ann_id: Any, ann: Any, files: dict) -> dict:
        if not isinstance(ann, dict):
            raise BadSample(f'{where}: expected an object, got {type(ann).__name__}')
        for key in ('image_id', 'caption'):
            if ann.get(key) is None:
                raise BadSample(f'{where}: missing key {key!r}')
        if ann['image_id'] not in files:
            raise BadSample(f'{where}: image_id {ann["image_id"]!r} is not in "images"')
        return dict(img_path=self._image(where, files[ann['image_id']]),
                    caption=self._caption(where, ann['caption']), img_id=ann['image_id'],
                    ann_file=self.ann_file, line=None, ann_id=ann_id)
