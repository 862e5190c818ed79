"""Captioning data: COCO Karpathy splits, any CaptionDataset file grouped by image, and video
captions (MSRVTT, MSVD).

Every dataset here gives data infos with ``caption`` (one training target) and ``gt_captions``
(all references of the image or video). In training (``per_item=False``, the default when not
``test_mode``) there is one sample per caption; in evaluation (``per_item=True``) one sample per
image or video, whose ``caption`` is its first reference.
"""
from __future__ import annotations

import os.path as osp
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any

from mmengine.dataset import BaseDataset
from mmengine.fileio import get_text, join_path
from mmengine.registry import DATASETS

from ..datasets.caption import BadSample, CaptionDataset, MissingImage
from ..datasets.checks import (
    check_on_bad_sample,
    gather_samples,
    load_json,
    require_file,
    require_keys,
    require_text,
)
from ..video.annotated import AnnotatedVideoDataset


def group_captions(infos: list[dict], key: str) -> list[dict]:
    """One info per distinct ``info[key]`` (first seen order), holding the group's captions in
    ``gt_captions`` and the first of them in ``caption``."""
    groups: dict[Any, dict] = {}
    for info in infos:
        group = groups.get(info[key])
        if group is None:
            groups[info[key]] = dict(info, gt_captions=[info['caption']])
        else:
            group['gt_captions'].append(info['caption'])
    return list(groups.values())


def per_caption(infos: list[dict]) -> list[dict]:
    """One info per caption of each grouped info (``caption`` set to it)."""
    return [dict(info, caption=c) for info in infos for c in info['gt_captions']]


def _splits(split: str | Sequence[str] | None) -> set[str] | None:
    return None if split is None else {split} if isinstance(split, str) else set(split)


class _PerItemMixin:
    """``per_item`` resolution shared by the datasets of this module."""

    per_item: bool | None
    test_mode: bool

    def layout(self, grouped: list[dict]) -> list[dict]:
        one_per_item = self.test_mode if self.per_item is None else self.per_item
        return grouped if one_per_item else per_caption(grouped)


@DATASETS.register_module()
class KarpathyCaptionDataset(_PerItemMixin, BaseDataset):
    """COCO (or Flickr) captions in Karpathy's split file ``dataset_coco.json``::

        {"images": [{"filepath": "val2014", "filename": "COCO_val2014_000000391895.jpg",
                     "cocoid": 391895, "imgid": 0, "split": "test",
                     "sentences": [{"raw": "A man with a red helmet ...", ...}, ...]}, ...]}

    ``split`` selects images by their ``split`` (``'train'``, ``'restval'``, ``'val'``,
    ``'test'``; training usually takes ``('train', 'restval')``). Images are
    ``data_prefix['img_path']/filepath/filename`` (``filepath`` optional); ``img_id`` is
    ``cocoid`` (else ``imgid``). An image without ``filename``, with no sentences or a sentence
    without ``raw``, or whose file is missing is an error naming the file and the image entry;
    ``on_bad_sample='skip'`` drops the image instead.

    Args:
        ann_file: the Karpathy JSON.
        split: the split name(s) to keep; ``None`` keeps every image.
        per_item: one sample per image (``True``) or per caption (``False``); ``None``: per
            image in ``test_mode``.
        on_bad_sample, check_files, backend_args: as :class:`~mammut_det.datasets.CaptionDataset`.
        **kwargs: :class:`mmengine.dataset.BaseDataset` arguments.
    """

    def __init__(self, ann_file: str, split: str | Sequence[str] | None = 'train',
                 per_item: bool | None = None, on_bad_sample: str = 'error',
                 check_files: bool = True, backend_args: dict | None = None,
                 **kwargs: Any) -> None:
        self.splits = _splits(split)
        self.per_item = per_item
        self.on_bad_sample = check_on_bad_sample('KarpathyCaptionDataset', on_bad_sample)
        self.check_files = check_files
        self.backend_args = backend_args
        self.num_skipped = 0
        super().__init__(ann_file=ann_file, **kwargs)

    def load_data_list(self) -> list[dict]:
        """Images of the chosen splits with their captions."""
        data = load_json(get_text(self.ann_file, backend_args=self.backend_args), self.ann_file)
        if not isinstance(data, dict) or not isinstance(data.get('images'), list):
            raise ValueError(f'{self.ann_file}: expected a Karpathy split file with an "images" '
                             'list')
        img_root = self.data_prefix.get('img_path') or osp.dirname(self.ann_file)
        candidates = (partial(self._image, i, img, img_root)
                      for i, img in enumerate(data['images'])
                      if self.splits is None or not isinstance(img, dict)
                      or img.get('split') in self.splits)
        grouped, self.num_skipped = gather_samples(candidates, self.on_bad_sample,
                                                   self.ann_file)
        return self.layout(grouped)

    def _image(self, index: int, img: Any, img_root: str) -> dict:
        img_id = (img.get('cocoid', img.get('imgid')) if isinstance(img, dict) else None)
        where = f'{self.ann_file}: images[{index}] (id {img_id})'
        require_keys(where, img, ('filename', 'sentences'))
        sentences = img['sentences']
        if not isinstance(sentences, list) or not sentences:
            raise BadSample(f'{where}: no sentences')
        captions = [require_text(f'{where}: sentences[{j}]', 'raw',
                                 s.get('raw') if isinstance(s, dict) else None)
                    for j, s in enumerate(sentences)]
        name = require_text(where, 'filename', img['filename'])
        img_path = join_path(img_root, img.get('filepath') or '', name)
        if self.check_files:
            require_file(where, img_path, self.backend_args)
        return dict(img_path=img_path, img_id=img_id if img_id is not None else name,
                    caption=captions[0], gt_captions=captions)


@DATASETS.register_module()
class GroupedCaptionDataset(_PerItemMixin, CaptionDataset):
    """:class:`~mammut_det.datasets.CaptionDataset` (JSON lines, CSV or COCO captions) with the
    captions of each image gathered in ``gt_captions``: one sample per image for evaluation
    (``per_item=True``, the default in ``test_mode``), else one per caption. Images are the same
    when their ``img_path`` is.

    Args:
        per_item: as :class:`KarpathyCaptionDataset`.
        **kwargs: :class:`~mammut_det.datasets.CaptionDataset` arguments.
    """

    def __init__(self, *args: Any, per_item: bool | None = None, **kwargs: Any) -> None:
        self.per_item = per_item
        super().__init__(*args, **kwargs)

    def load_data_list(self) -> list[dict]:
        """CaptionDataset's samples grouped by image."""
        return self.layout(group_captions(super().load_data_list(), 'img_path'))


VIDEO_CAPTION_FORMATS = ('msrvtt', 'json', 'lines')


@DATASETS.register_module()
class VideoCaptionDataset(_PerItemMixin, AnnotatedVideoDataset):
    """Video captions (MSRVTT, MSVD) in one of three layouts (``ann_format='auto'`` picks
    ``lines`` for ``.txt`` files, else ``msrvtt`` for a JSON object and ``json`` for a list):

    - ``msrvtt``: MSRVTT's ``videodatainfo.json`` / ``train_val_videodatainfo.json`` /
      ``test_videodatainfo.json``: ``{"videos": [{"video_id": "video0", "split": "train",
      ...}], "sentences": [{"video_id": "video0", "caption": "...", "sen_id": 0}]}``; ``split``
      keeps videos by their ``split`` (``'train'``, ``'validate'``, ``'test'``).
    - ``json``: a list of ``{"video" or "video_id", "caption"}`` (a video may repeat).
    - ``lines``: one ``video_id caption`` per line (MSVD's ``AllVideoDescriptions.txt`` style;
      blank lines and lines starting with ``#`` are ignored).

    Video files follow ``video_pattern`` (``'{}.mp4'``: MSRVTT; ``'{}.avi'``: MSVD's
    YouTubeClips). A data info holds ``filename``, ``video_id``, ``caption``, ``gt_captions``
    and ``ann_line`` (the first line of the video in a text or list file; its index in
    ``videos`` for MSRVTT's one-line JSON).
    A malformed line or entry, a video without captions or a missing video file is an error
    naming the file and line (or entry); ``on_bad_sample='skip'`` drops it.

    Args:
        ann_format: ``'auto'`` or one of ``'msrvtt'``, ``'json'``, ``'lines'``.
        split: MSRVTT split name(s) to keep; ``None`` keeps all.
        per_item: one sample per video (``True``) or per caption (``False``); ``None``: per video
            in ``test_mode``.
        **kwargs: :class:`~mammut_det.video.annotated.AnnotatedVideoDataset` arguments.
    """

    def __init__(self, ann_file: str, pipeline: list, ann_format: str = 'auto',
                 split: str | Sequence[str] | None = None, per_item: bool | None = None,
                 **kwargs: Any) -> None:
        if ann_format not in ('auto', *VIDEO_CAPTION_FORMATS):
            raise ValueError(f'VideoCaptionDataset: ann_format must be "auto" or one of '
                             f'{VIDEO_CAPTION_FORMATS}, got {ann_format!r}')
        self.ann_format = ann_format
        self.splits = _splits(split)
        self.per_item = per_item
        super().__init__(ann_file, pipeline, **kwargs)

    def load_data_list(self) -> list[dict]:
        """Videos with their captions, laid out per video or per caption."""
        return self.layout(super().load_data_list())

    def _candidates(self, text: str) -> Iterator[Callable[[], dict]]:
        fmt = self.ann_format
        if fmt == 'auto':
            fmt = ('lines' if self.ann_file.endswith('.txt')
                   else 'json' if text.lstrip().startswith('[') else 'msrvtt')
        readers = {'msrvtt': self._msrvtt, 'json': self._json_list, 'lines': self._lines}
        return readers[fmt](text)

    def _group(self, where: str, line: int, video_id: Any, captions: list[str]) -> dict:
        return dict(self.video_info(where, line, dict(video_id=video_id)),
                    caption=captions[0], gt_captions=captions)

    def _msrvtt(self, text: str) -> Iterator[Callable[[], dict]]:
        data = load_json(text, self.ann_file)
        if not isinstance(data, dict) or not {'videos', 'sentences'} <= data.keys():
            raise ValueError(f'{self.ann_file}: an MSRVTT file needs "videos" and "sentences" '
                             'lists')
        captions: dict[Any, list[str]] = {}
        for k, s in enumerate(data['sentences']):
            where = f'{self.ann_file}: sentences[{k}]'
            if not isinstance(s, dict) or s.get('video_id') is None:
                yield partial(_fail, BadSample(f'{where}: expected an object with "video_id"'))
            elif not isinstance(s.get('caption'), str) or not s['caption'].strip():
                yield partial(_fail, BadSample(f'{where} (video_id {s["video_id"]}): no caption'))
            else:
                captions.setdefault(s['video_id'], []).append(s['caption'].strip())
        for i, video in enumerate(data['videos']):
            vid = video.get('video_id') if isinstance(video, dict) else None
            where = f'{self.ann_file}: videos[{i}] (video_id {vid})'
            if vid is None:
                yield partial(_fail, BadSample(f'{where}: expected an object with "video_id"'))
            elif self.splits is None or video.get('split') in self.splits:
                yield partial(self._captioned, where, i, vid, captions)

    def _captioned(self, where: str, line: int, video_id: Any, captions: dict) -> dict:
        if not captions.get(video_id):
            raise BadSample(f'{where}: the video has no captions')
        return self._group(where, line, video_id, captions[video_id])

    def _json_list(self, text: str) -> Iterator[Callable[[], dict]]:
        entries = []
        for line, entry in self.json_entries(text):
            where = f'{self.ann_file}:{line}'
            try:
                require_keys(where, entry, ('caption',))
                info = self.video_info(where, line, entry)
                entries.append(dict(info, caption=require_text(where, 'caption',
                                                               entry['caption'])))
            except (BadSample, MissingImage) as err:
                yield partial(_fail, err)
        for info in group_captions(entries, 'video_id'):
            yield partial(dict, info)

    def _lines(self, text: str) -> Iterator[Callable[[], dict]]:
        captions: dict[str, list[str]] = {}
        first_line: dict[str, int] = {}
        for line, raw in enumerate(text.splitlines(), start=1):
            if not raw.strip() or raw.lstrip().startswith('#'):
                continue
            fields = raw.strip().split(maxsplit=1)
            if len(fields) < 2:
                yield partial(_fail, BadSample(f'{self.ann_file}:{line}: expected '
                                               f'"video_id caption", got {raw.strip()!r}'))
                continue
            first_line.setdefault(fields[0], line)
            captions.setdefault(fields[0], []).append(fields[1].strip())
        for video_id, caps in captions.items():
            line = first_line[video_id]
            yield partial(self._group, f'{self.ann_file}:{line}', line, video_id, caps)


def _fail(err: Exception) -> dict:
    raise err
