"""Kinetics-style video lists (``path label`` lines) with checked annotations and bad-file skips."""
from __future__ import annotations

import logging
import os.path as osp
from collections.abc import Sequence

import torch
from mmaction.datasets import VideoDataset
from mmaction.datasets.transforms import (
    DecordDecode,
    DecordInit,
    OpenCVDecode,
    OpenCVInit,
    PyAVDecode,
    PyAVInit,
)
from mmengine.fileio import exists, list_from_file
from mmengine.logging import print_log
from mmengine.registry import DATASETS

from ..detection.vocabulary import load_vocabulary

#: Slots of the shared skip counter: one per dataloader worker (ids wrap around), so that workers
#: never increment the same cell.
_COUNTER_SLOTS = 256


#: The pipeline steps that open and decode the video file.
VIDEO_READERS = (DecordInit, DecordDecode, OpenCVInit, OpenCVDecode, PyAVInit, PyAVDecode)


class VideoReadError(RuntimeError):
    """A video that cannot be decoded; the message names the file and its annotation line."""


def is_decode_error(err: BaseException) -> bool:
    """Whether ``err`` means the video file cannot be read: decord's ``DECORDError`` (a bad
    stream; not a RuntimeError), or a RuntimeError (decord's "Error reading" of bytes that are no
    video) or OSError (a file gone since the list was checked) raised inside one of
    :data:`VIDEO_READERS`. Any other error (a bug in a transform, a wrong config) is not."""
    from decord._ffi.base import DECORDError
    if isinstance(err, DECORDError):
        return True
    if not isinstance(err, (RuntimeError, OSError)):
        return False
    tb = err.__traceback__
    while tb is not None:
        if isinstance(tb.tb_frame.f_locals.get('self'), VIDEO_READERS):
            return True
        tb = tb.tb_next
    return False


def _worker_slot() -> int:
    info = torch.utils.data.get_worker_info()
    return 0 if info is None else (info.id + 1) % _COUNTER_SLOTS


@DATASETS.register_module()
class CheckedVideoDataset(VideoDataset):
    """:class:`mmaction.datasets.VideoDataset` that checks its list and survives bad videos.

    Each annotation line is ``path label``: the path is the first field, the label the rest, an
    integer index or (when ``classes`` are given) a class name, which may contain spaces. A line
    with a path only is allowed in ``test_mode`` (label -1, for inference lists).

    At load time, errors name the annotation file and line: a malformed line, a label that is not
    an index in ``[0, num_classes)`` or not one of ``classes``, a file that does not exist
    (``on_missing='error'``; ``'skip'`` drops such lines with one warning that counts them).

    At read time, a video that cannot be decoded (corrupt, zero-length, truncated; see
    :func:`is_decode_error`, any other error raises as it is) is skipped with a warning naming
    file and line, and counted in :attr:`num_skipped` (shared by all dataloader workers). In
    training another random sample takes its place (``SkippedVideoLoggerHook`` logs the count per
    epoch). In ``test_mode`` the next readable video of the list stands in for it, marked with
    the metainfo ``unreadable`` (the file and line), so that every index still gives one sample
    on every process; :class:`~mammut_det.video.ReadableVideosMetric` leaves the marked samples
    out of the metric and reports their number and names. ``on_unreadable='error'`` raises
    :class:`VideoReadError` instead. More than ``max_consecutive_skips`` bad reads in a row are an
    error. Videos shorter than the clip are looped by ``SampleFrames(out_of_bound_opt='loop')``.

    Args:
        ann_file, pipeline, data_prefix, test_mode, delimiter: as :class:`VideoDataset`.
        classes: class names (a list or a file with one per line); also the dataset metainfo.
        num_classes: number of classes when labels are indices and no ``classes`` are given.
        on_missing: ``'error'`` or ``'skip'`` for files in the list that do not exist.
        check_files: check that every listed file exists when loading the list.
        on_unreadable: ``'skip'`` or ``'error'`` for a video that cannot be decoded.
        max_consecutive_skips: bad reads in a row that are an error.
    """

    def __init__(self, ann_file: str, pipeline: list, data_prefix: dict | None = None,
                 classes: str | Sequence[str] | None = None, num_classes: int | None = None,
                 on_missing: str = 'error', check_files: bool = True,
                 on_unreadable: str = 'skip', max_consecutive_skips: int = 50,
                 **kwargs) -> None:
        for name, value in (('on_missing', on_missing), ('on_unreadable', on_unreadable)):
            if value not in ('error', 'skip'):
                raise ValueError(f"{name} must be 'error' or 'skip', got {value!r}")
        if kwargs.get('multi_class'):
            raise ValueError('CheckedVideoDataset reads single-label lists; use VideoDataset '
                             'for multi_class')
        self.class_names = list(load_vocabulary(classes)) if classes is not None else None
        if self.class_names is not None:
            if num_classes is not None and num_classes != len(self.class_names):
                raise ValueError(f'num_classes={num_classes} but {len(self.class_names)} classes '
                                 f'are given')
            num_classes = len(self.class_names)
            kwargs['metainfo'] = dict(kwargs.get('metainfo') or {}, classes=self.class_names)
        self.on_missing = on_missing
        self.on_unreadable = on_unreadable
        self.check_files = check_files
        self.max_consecutive_skips = max_consecutive_skips
        self._skip_counts = torch.zeros(_COUNTER_SLOTS, dtype=torch.int64).share_memory_()
        self._consecutive_skips = 0
        super().__init__(ann_file, pipeline, data_prefix=data_prefix or dict(video=''),
                         num_classes=num_classes, **kwargs)

    @property
    def num_skipped(self) -> int:
        """Unreadable videos skipped so far, over all dataloader workers."""
        return int(self._skip_counts.sum())

    def _parse_label(self, text: str, where: str) -> int:
        if text.lstrip('-').isdigit():
            label = int(text)
            limit = self.num_classes
            if label < 0 or (limit is not None and label >= limit):
                bound = f'[0, {limit})' if limit is not None else '>= 0'
                raise ValueError(f'{where}: label {label} is not a class index {bound}')
            return label
        if self.class_names is None:
            raise ValueError(f'{where}: label {text!r} is not an integer (give `classes` to use '
                             f'class names)')
        if text not in self.class_names:
            raise ValueError(f'{where}: unknown label {text!r}, not one of the '
                             f'{len(self.class_names)} classes')
        return self.class_names.index(text)

    def load_data_list(self) -> list[dict]:
        """Parse and check the annotation file (see the class docstring)."""
        if not exists(self.ann_file):
            raise FileNotFoundError(f'annotation file {self.ann_file} does not exist')
        prefix = self.data_prefix.get('video') or ''
        data_list, missing = [], []
        for lineno, line in enumerate(list_from_file(self.ann_file), start=1):
            if not line.strip():
                continue
            where = f'{self.ann_file}, line {lineno}'
            fields = line.strip().split(self.delimiter, 1)
            if len(fields) == 1:
                if not self.test_mode:
                    raise ValueError(f'{where}: expected "path label", got {line.strip()!r}')
                label = -1
            else:
                label = self._parse_label(fields[1].strip(), where)
            filename = osp.join(prefix, fields[0]) if prefix else fields[0]
            if self.check_files and not exists(filename):
                if self.on_missing == 'error':
                    raise FileNotFoundError(f'{where}: video {filename} does not exist')
                missing.append(f'{filename} (line {lineno})')
                continue
            data_list.append(dict(filename=filename, label=label, ann_line=lineno))
        if missing:
            print_log(f'{self.ann_file}: skipped {len(missing)} missing videos: '
                      f'{", ".join(missing[:10])}{" ..." if len(missing) > 10 else ""}',
                      logger='current', level=logging.WARNING)
        if not data_list:
            raise ValueError(f'{self.ann_file} lists no usable video')
        return data_list

    def _where(self, idx: int) -> tuple[dict, str]:
        info = self.get_data_info(idx)
        return info, f'{info["filename"]} ({self.ann_file}, line {info["ann_line"]})'

    def prepare_data(self, idx: int) -> dict | None:
        """Run the pipeline. An unreadable video raises with ``on_unreadable='error'``; else it
        is counted and skipped: ``None`` in training (another sample is drawn), the next readable
        video, marked ``unreadable``, in test mode."""
        info, where = self._where(idx)
        try:
            data = self.pipeline(info)
        except Exception as err:
            if not is_decode_error(err):
                raise
            if self.on_unreadable == 'error':
                raise VideoReadError(f'cannot read video {where}: {err}') from err
            self._consecutive_skips += 1
            if self._consecutive_skips > self.max_consecutive_skips:
                raise VideoReadError(f'{self._consecutive_skips} unreadable videos in a row, the '
                                     f'last {where}: {err}') from err
            self._skip_counts[_worker_slot()] += 1
            print_log(f'skipping unreadable video {where}: {str(err).strip()[:200]} '
                      f'[{self.num_skipped} skipped so far]', logger='current',
                      level=logging.WARNING)
            return self._stand_in(idx, where) if self.test_mode else None
        self._consecutive_skips = 0
        return data

    def _stand_in(self, idx: int, where: str) -> dict:
        """The sample of the next readable video after ``idx``, marked ``unreadable=where``."""
        for step in range(1, min(len(self), self.max_consecutive_skips + 1)):
            info, _ = self._where((idx + step) % len(self))
            try:
                data = self.pipeline(info)
            except Exception as err:
                if not is_decode_error(err):
                    raise
                continue
            data['data_samples'].set_metainfo(dict(unreadable=where))
            return data
        raise VideoReadError(f'no readable video among the {self.max_consecutive_skips} after '
                             f'{where} to stand in for it')
