"""Base of the video datasets whose annotations are JSON or text files of questions or captions
(VideoQA, video captioning) rather than ``path label`` lists."""
from __future__ import annotations

import os.path as osp
from collections.abc import Callable, Iterator
from typing import Any

from mmengine.fileio import exists, get_text

from ..datasets.caption import BadSample
from ..datasets.checks import (
    check_on_bad_sample,
    gather_samples,
    iter_json_array,
    require_file,
)
from .datasets import CheckedVideoDataset


class AnnotatedVideoDataset(CheckedVideoDataset):
    """:class:`CheckedVideoDataset` (decoding through ``pipeline``, bad videos at read time handled
    as it does) with annotations parsed by a subclass's ``_candidates``.

    A video is named by an entry's ``video`` (a file name, used as is) or ``video_id`` (formatted
    into ``video_pattern``, e.g. ``'video{}.mp4'`` for MSRVTT's integer ids, ``'{}.avi'`` for MSVD
    clip names); paths are under ``data_prefix['video']``. Data infos hold ``filename``,
    ``video_id`` and ``ann_line`` (the annotation line, named in read errors).

    A malformed entry, a missing key or a missing video file raises an error naming the annotation
    file and line (or entry), or with ``on_bad_sample='skip'`` is logged and dropped (counted in
    :attr:`num_bad_entries`).

    Args:
        ann_file, pipeline, data_prefix, test_mode: as :class:`CheckedVideoDataset`.
        video_pattern: video file name from a ``video_id``.
        on_bad_sample: ``'error'`` or ``'skip'``.
        check_files: whether every video file must exist when the annotations are loaded.
        **kwargs: further :class:`CheckedVideoDataset` arguments.
    """

    def __init__(self, ann_file: str, pipeline: list, data_prefix: dict | None = None,
                 video_pattern: str = '{}.mp4', on_bad_sample: str = 'error',
                 check_files: bool = True, **kwargs: Any) -> None:
        self.video_pattern = video_pattern
        self.on_bad_sample = check_on_bad_sample(type(self).__name__, on_bad_sample)
        self.num_bad_entries = 0
        super().__init__(ann_file, pipeline, data_prefix=data_prefix, on_missing=on_bad_sample,
                         check_files=check_files, **kwargs)

    def load_data_list(self) -> list[dict]:
        """Parse and check the annotation file into data infos."""
        if not exists(self.ann_file):
            raise FileNotFoundError(f'annotation file {self.ann_file} does not exist')
        infos, self.num_bad_entries = gather_samples(
            self._candidates(get_text(self.ann_file)), self.on_bad_sample, self.ann_file)
        return infos

    def _candidates(self, text: str) -> Iterator[Callable[[], dict]]:
        """One callable per sample (or per group of samples) that returns its data info or
        raises :class:`~mammut_det.datasets.caption.BadSample`/``MissingImage``."""
        raise NotImplementedError

    def json_entries(self, text: str) -> Iterator[tuple[int, Any]]:
        """The entries of the JSON list ``text`` with their line numbers."""
        return iter_json_array(text, self.ann_file)

    def video_file(self, where: str, video_id: Any) -> str:
        """The checked path of the video ``video_id`` (formatted into ``video_pattern``)."""
        return self._check(where, self.video_pattern.format(video_id))

    def video_info(self, where: str, line: int, entry: dict) -> dict:
        """``filename``, ``video_id`` and ``ann_line`` of a JSON entry with ``video`` or
        ``video_id``."""
        if entry.get('video') is not None:
            name = str(entry['video'])
            video_id = entry.get('video_id', osp.splitext(osp.basename(name))[0])
            filename = self._check(where, name)
        elif entry.get('video_id') is not None:
            video_id = entry['video_id']
            filename = self.video_file(where, video_id)
        else:
            raise BadSample(f'{where}: missing key "video" or "video_id"')
        return dict(filename=filename, video_id=video_id, ann_line=line)

    def _check(self, where: str, name: str) -> str:
        prefix = self.data_prefix.get('video') or ''
        path = osp.join(prefix, name) if prefix else name
        if self.check_files:
            require_file(where, path, what='video')
        return path
