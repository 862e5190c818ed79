"""Image-caption pairs streamed from WebDataset tar shards (img2dataset / LAION / DataComp layout).

A shard is a tar of samples ``{key}.jpg|jpeg|png|webp`` (the image's encoded bytes) and
``{key}.txt`` (the caption, UTF-8), optionally ``{key}.json`` (metadata, parsed into
``results['json']``). ``tools/make_shards.py`` writes them from a caption file, with a
``sizes.json`` beside them (``{"00000.tar": 10000, ...}``, open_clip's format).

**Readers.** Every dataloader worker of every rank is one reader: worker ``w`` of rank ``r`` is
reader ``g = r * W + w`` of ``R = world_size * W``. A reader streams without end, epoch after
epoch, and each of its epochs yields exactly ``num_samples // R`` good samples, so every rank
yields the same number of batches per epoch whatever the shard sizes (unequal lengths hang DDP;
``num_samples`` is given or summed from ``sizes.json``). Use ``IterBasedTrainLoop``.

- Ordinary mode: each epoch the shard list is permuted by ``(seed, epoch)``, the same on every
  rank, and reader ``g`` reads shards ``g, g + R, g + 2R, ...`` (so at least ``R`` shards are
  needed). Shards it does not reach this epoch wait for another epoch's permutation; if its shards
  run out first it reads them again. With shards of equal size and a shard count divisible by
  ``R``, an epoch is every sample exactly once (``make_shards.py`` makes all shards but the last
  equal).
- Resampled mode (``resampled=True``): each reader draws shards with replacement from a generator
  seeded by ``(seed, epoch, g)``. With several sources and ``weights``, a shard is drawn with
  probability proportional to its source's weight, as open_clip's
  ``--train-data-upsampling-factors`` (a source's share is its shard count times its weight).

A reader passes its samples through a shuffle buffer (``webdataset.shuffle``, seeded by
``(seed, epoch, g)``), then decodes them (images to the BGR ``numpy`` array mmcv transforms expect)
and runs the config's pipeline. The order is a function of the seed alone: the same seed streams
the same samples in the same batches.

**Bad samples** never stop training: a member that cannot be read (a truncated tar, a missing
shard), a sample without an image or caption, an empty or non-UTF-8 caption, undecodable image
bytes, malformed JSON, or a sample the pipeline drops, is logged with its shard and key and
counted per reader under the names of :data:`REASONS`. A reader whose shards give no sample at all
raises an error naming them.

**Where a sample came from.** The packed data sample's metainfo gets ``stream``, a
:class:`StreamInfo`: the sample's key and shard, its reader, and the reader's place in its epoch
and skip counts. :class:`mammut_det.engine.ShardStreamHook` reads it to log skip counts and to
resume a run sample-exactly: it saves each reader's last trained position in the checkpoint, and
on resume :meth:`WebCaptionDataset.restore` makes every reader skip what it had delivered (read
from the tar, not decoded), so the resumed run trains on the same batches as an uninterrupted one.
"""
from __future__ import annotations

import itertools
import json
import logging
import os.path as osp
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import mmcv
import numpy as np
import torch
import webdataset as wds
from mmengine.dataset import Compose
from mmengine.dist import get_dist_info, sync_random_seed
from mmengine.logging import print_log
from mmengine.registry import DATASETS
from mmengine.structures import BaseDataElement
from torch.utils.data import IterableDataset, get_worker_info

from ..text.base import BaseTokenizer
from .transforms import TokenizeCaption

#: Why a sample was skipped: no image member, no usable caption, undecodable image bytes,
#: malformed JSON, an unreadable tar member or shard (one count per error), dropped by the pipeline.
REASONS = ('no_image', 'no_caption', 'bad_image', 'bad_json', 'bad_tar', 'filtered')
IMAGE_KEYS = ('jpg', 'jpeg', 'png', 'webp')
#: Dataloader workers per rank that the shared resume table can describe.
MAX_WORKERS = 256
_TAR_SUFFIXES = ('.tar', '.tar.gz', '.tgz')


def _is_local(url: str) -> bool:
    return '://' not in url and not url.startswith('pipe:')


def expand_shards(spec: str | Sequence[str], data_root: str = '') -> list[list[str]]:
    """Shard urls for each entry of ``spec``: a brace pattern (``data/{00000..00099}.tar``), a
    shard path, or a text file listing shards (one pattern per line, relative to the file's folder;
    blank lines and ``#`` comments ignored). Relative local paths are joined to ``data_root``.
    Returns one list per entry."""
    entries = [spec] if isinstance(spec, str) else list(spec)
    if not entries:
        raise ValueError('WebCaptionDataset: shards is empty')
    sources = []
    for entry in entries:
        if not isinstance(entry, str) or not entry.strip():
            raise ValueError(f'WebCaptionDataset: a shard entry must be a non-empty string, '
                             f'got {entry!r}')
        entry = osp.join(data_root, entry) if _is_local(entry) and data_root else entry
        if osp.isfile(entry) and not entry.endswith(_TAR_SUFFIXES):
            with open(entry) as f:
                lines = [ln.strip() for ln in f if ln.strip() and not ln.startswith('#')]
            root = osp.dirname(entry)
            urls = [url for ln in lines for url in
                    wds.shardlists.expand_urls(osp.join(root, ln) if _is_local(ln) else ln)]
            where = entry
        else:
            urls = wds.shardlists.expand_urls(entry)
            where = f'pattern {entry!r}'
        missing = [u for u in urls if _is_local(u) and not osp.isfile(u)]
        if missing:
            raise FileNotFoundError(f'{where}: {len(missing)} of {len(urls)} shards do not exist, '
                                    f'e.g. {missing[:3]}')
        if not urls:
            raise ValueError(f'{where}: lists no shards')
        sources.append(urls)
    return sources


def count_samples(shards: Sequence[str]) -> int | None:
    """The shards' total sample count from the ``sizes.json`` in their folders, or ``None`` when
    a folder has none. A shard missing from its ``sizes.json`` is an error naming both."""
    cache: dict[str, dict | None] = {}
    total = 0
    for url in shards:
        folder, name = osp.split(url)
        if folder not in cache:
            path = osp.join(folder, 'sizes.json')
            cache[folder] = None
            if _is_local(path) and osp.isfile(path):
                with open(path) as f:
                    cache[folder] = json.load(f)
        sizes = cache[folder]
        if sizes is None:
            return None
        if name not in sizes:
            raise KeyError(f'{osp.join(folder, "sizes.json")} has no entry for the shard {name}')
        total += int(sizes[name])
    return total


def _seed_int(*parts: int) -> int:
    """A 64-bit seed mixed from non-negative ints (``numpy.random.SeedSequence``)."""
    return int(np.random.SeedSequence(list(parts)).generate_state(1, np.uint64)[0])


@dataclass
class _ReaderLog:
    """One reader's skip counts; ``muted`` while a resume replays samples already counted."""

    where: str
    skipped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))
    muted: bool = False
    shards_without_samples: int = 0

    def skip(self, reason: str, message: str) -> None:
        if self.muted:
            return
        self.skipped[reason] += 1
        print_log(f'{self.where}: skipping {message} [{reason}; skipped so far: '
                  f'{_format_counts(self.skipped)}]', logger='current', level=logging.WARNING)

    def tar_error(self, exn: Exception) -> bool:
        """``webdataset`` exception handler: count, log, go on with the next member or shard."""
        self.skip('bad_tar', f'unreadable tar data: {exn!r}'[:500])
        return True


@dataclass(frozen=True)
class StreamInfo:
    """Where a sample came from: its ``key`` and ``shard``; the reader (``rank``, ``worker``);
    the reader's ``epoch``; ``position``, the raw samples it has taken from its shuffle buffer in
    this epoch, this one included; ``count``, the good samples it has yielded in this epoch, this
    one included, of ``epoch_length``; ``skipped``, its skip counts by reason since the start."""

    key: str
    shard: str
    rank: int
    worker: int
    epoch: int
    position: int
    count: int
    epoch_length: int
    skipped: dict[str, int]

    def state(self) -> dict:
        """What :meth:`WebCaptionDataset.restore` needs to continue after this sample."""
        return dict(epoch=self.epoch, position=self.position, count=self.count,
                    skipped=dict(self.skipped))


def _format_counts(counts: dict[str, int]) -> str:
    parts = [f'{k} {v}' for k, v in counts.items() if v]
    return ', '.join(parts) if parts else 'none'


@DATASETS.register_module()
class WebCaptionDataset(IterableDataset):
    """Image-caption pairs streamed from WebDataset shards (layout and behaviour in the module
    docstring). Yields the pipeline's output for each good sample; the pipeline gets ``img``
    (uint8 BGR [H, W, 3]), ``img_shape``, ``ori_shape``, ``caption``, ``key``, ``shard`` and, for
    samples with a ``.json`` member, ``json``.

    Args:
        shards: a brace pattern, a shard path or a file listing shards; or a list of them (one
            source each when ``weights`` is given).
        num_samples: samples per epoch over all readers; ``None`` sums the shards' ``sizes.json``.
        resampled: draw shards with replacement instead of splitting them among the readers.
        weights: one weight per source in ``shards`` (resampled mode only).
        pipeline: mmcv transforms run on each decoded sample.
        data_root: folder that relative shard paths are joined to.
        seed: shuffling seed; ``None`` draws it with ``mmengine.dist.sync_random_seed()`` from
            numpy's generator, which the runner seeds with ``randomness.seed`` before it builds
            the dataloader (as for mmengine's samplers), the same on every rank.
        shuffle_shards: permute the shard list every epoch (ordinary mode).
        shuffle_buffer: samples in each reader's shuffle buffer (0 or 1: no shuffling).
        shuffle_initial: samples buffered before the first one is yielded.
        image_keys: image member extensions, in order of preference.
        caption_key: caption member extension.
        max_consecutive_bad: bad samples in a row after which a reader stops with an error.
        tokenizer: the model's tokenizer (config or instance): captions are tokenised in the
            workers, a :class:`TokenizeCaption` step running first in the pipeline.
    """

    def __init__(self, shards: str | Sequence[str], num_samples: int | None = None,
                 resampled: bool = False, weights: Sequence[float] | None = None,
                 pipeline: Sequence[dict | Any] = (), data_root: str = '',
                 seed: int | None = None, shuffle_shards: bool = True,
                 shuffle_buffer: int = 1000, shuffle_initial: int = 100,
                 image_keys: Sequence[str] = IMAGE_KEYS, caption_key: str = 'txt',
                 max_consecutive_bad: int = 1000,
                 tokenizer: dict | BaseTokenizer | None = None) -> None:
        super().__init__()
        sources = expand_shards(shards, data_root)
        self.shards = [url for urls in sources for url in urls]
        if weights is not None:
            if not resampled:
                raise ValueError('WebCaptionDataset: weights need resampled=True (open_clip\'s '
                                 'rule: ordinary epochs read every shard once)')
            if len(weights) != len(sources) or min(weights) < 0 or sum(weights) <= 0:
                raise ValueError(f'WebCaptionDataset: need one non-negative weight per source '
                                 f'({len(sources)}), not all 0; got {list(weights)}')
            per_shard = np.concatenate([np.full(len(urls), float(w))
                                        for urls, w in zip(sources, weights)])
        else:
            per_shard = np.ones(len(self.shards))
        self.shard_probs = per_shard / per_shard.sum()
        if num_samples is None:
            num_samples = count_samples(self.shards)
            if num_samples is None:
                raise ValueError(f'WebCaptionDataset: cannot tell the epoch length of '
                                 f'{self.shards[0]} ...: no sizes.json beside the shards; '
                                 'give num_samples')
        if num_samples < 1:
            raise ValueError(f'WebCaptionDataset: num_samples must be positive, got {num_samples}')
        self.num_samples = int(num_samples)
        self.resampled = resampled
        self.pipeline = Compose(pipeline)
        if tokenizer is not None:
            self.pipeline.transforms.insert(0, TokenizeCaption(tokenizer))
        self.shuffle_shards = shuffle_shards
        self.shuffle_buffer = shuffle_buffer
        self.shuffle_initial = shuffle_initial
        self.image_keys = tuple(image_keys)
        self.caption_key = caption_key
        self.max_consecutive_bad = max_consecutive_bad
        self.rank, self.world_size = get_dist_info()
        # Shared with the workers (forked or spawned): the seed and, per worker slot, the reader
        # it serves and where that reader starts: (reader, epoch, position, count, *skipped).
        seed = sync_random_seed() if seed is None else seed
        self._seed = torch.tensor([seed], dtype=torch.int64).share_memory_()
        self._slots = torch.zeros(MAX_WORKERS, 4 + len(REASONS), dtype=torch.int64)
        self._slots[:, 0] = torch.arange(MAX_WORKERS)
        self._slots.share_memory_()

    @property
    def seed(self) -> int:
        return int(self._seed[0])

    @property
    def metainfo(self) -> dict:
        """What the runner stores in checkpoints and compares on resume."""
        return dict(num_shards=len(self.shards), num_samples=self.num_samples,
                    resampled=self.resampled)

    def __len__(self) -> int:
        """Samples one rank streams per epoch (``num_samples // world_size``; with ``W`` workers
        exactly ``W * (num_samples // (world_size * W))``). mmengine's runner takes
        ``len(dataloader)`` as the iterations per epoch of its schedulers. The stream itself never
        ends (:func:`mammut_det.compat.quiet_endless_stream_length_warning`)."""
        return self.num_samples // self.world_size

    def epoch_length(self, num_workers: int) -> int:
        """Good samples per reader per epoch with ``num_workers`` dataloader workers per rank."""
        readers = self.world_size * max(1, num_workers)
        if self.num_samples < readers:
            raise ValueError(f'WebCaptionDataset: {self.num_samples} samples per epoch cannot '
                             f'feed {readers} readers ({self.world_size} ranks x '
                             f'{max(1, num_workers)} workers)')
        if not self.resampled and len(self.shards) < readers:
            raise ValueError(f'WebCaptionDataset: {len(self.shards)} shards cannot be split '
                             f'among {readers} readers ({self.world_size} ranks x '
                             f'{max(1, num_workers)} workers); use more shards, fewer workers '
                             'or resampled=True')
        return self.num_samples // readers

    def restore(self, seed: int, readers: dict[int, dict], first_reader: int,
                num_workers: int) -> None:
        """Make the next iteration of the dataloader continue a stopped run.

        ``readers`` maps a worker index to :meth:`StreamInfo.state` of the last sample trained on
        from it; workers without one start at the beginning of epoch 0. ``first_reader`` is the
        worker whose batch was due next: dataloader worker ``p`` serves reader
        ``(p + first_reader) % num_workers``, so the dataloader's round robin continues the
        stopped run's batch order."""
        num_workers = max(1, num_workers)
        if num_workers > MAX_WORKERS:
            raise ValueError(f'WebCaptionDataset: at most {MAX_WORKERS} workers, got {num_workers}')
        self._seed[0] = seed
        for slot in range(num_workers):
            reader = (slot + first_reader) % num_workers
            info = readers.get(reader, dict(epoch=0, position=0, count=0, skipped={}))
            skipped = [int(info['skipped'].get(r, 0)) for r in REASONS]
            self._slots[slot] = torch.tensor(
                [reader, info['epoch'], info['position'], info['count'], *skipped])

    def __iter__(self) -> Iterator[Any]:
        worker = get_worker_info()
        slot, num_workers = (worker.id, worker.num_workers) if worker is not None else (0, 1)
        if num_workers > MAX_WORKERS:
            raise ValueError(f'WebCaptionDataset: at most {MAX_WORKERS} workers, got {num_workers}')
        reader, epoch, position, count, *skipped = self._slots[slot].tolist()
        return self._stream(reader, num_workers, epoch, position, count,
                            dict(zip(REASONS, skipped)))

    def _stream(self, worker: int, num_workers: int, epoch: int, position: int, count: int,
                skipped: dict[str, int]) -> Iterator[Any]:
        length = self.epoch_length(num_workers)
        reader = self.rank * num_workers + worker
        log = _ReaderLog(where=f'reader {reader} (rank {self.rank}, worker {worker})',
                         skipped=skipped)
        while True:
            raw = self._raw_samples(epoch, reader, num_workers * self.world_size, log)
            log.muted = True
            for _ in range(position):
                next(raw)
            log.muted = False
            bad_in_a_row = 0
            while count < length:
                item = next(raw)
                position += 1
                out, reason, message = self._load(item)
                if out is None:
                    log.skip(reason, f'{item.get("__url__")}: sample {item.get("__key__")!r}: '
                                     f'{message}')
                    bad_in_a_row += 1
                    if bad_in_a_row >= self.max_consecutive_bad:
                        raise RuntimeError(f'{log.where}: {bad_in_a_row} bad samples in a row, '
                                           f'the last in {item.get("__url__")}; check the shards')
                    continue
                bad_in_a_row = 0
                count += 1
                self._attach(out, StreamInfo(
                    key=item['__key__'], shard=item['__url__'], rank=self.rank, worker=worker,
                    epoch=epoch, position=position, count=count, epoch_length=length,
                    skipped=dict(log.skipped)))
                yield out
            epoch, position, count = epoch + 1, 0, 0

    def _raw_samples(self, epoch: int, reader: int, num_readers: int,
                     log: _ReaderLog) -> Iterator[dict]:
        """The reader's undecoded samples in ``epoch``, shuffled, without end: one endless
        round of resampled shards, or round after round of the reader's share of the shards,
        each shuffled on its own (so a round is read whole before the next one starts)."""
        if self.resampled:
            rng = np.random.default_rng([self.seed, epoch, reader])
            rounds = [self._resampled_shards(rng)]
            limit = 4 * len(self.shards)
        else:
            order = (np.random.default_rng([self.seed, epoch]).permutation(len(self.shards))
                     if self.shuffle_shards else np.arange(len(self.shards)))
            mine = [self.shards[i] for i in order[reader::num_readers]]
            rounds = itertools.repeat(mine)
            limit = len(mine)
        for number, shards in enumerate(rounds):
            samples = wds.tarfile_to_samples(handler=log.tar_error)(
                self._open_watched(shards, limit, log))
            samples = self._mark_progress(samples, log)
            if self.shuffle_buffer > 1:
                rng = random.Random(_seed_int(self.seed, epoch, reader, number))
                samples = wds.shuffle(self.shuffle_buffer, self.shuffle_initial, rng=rng)(samples)
            yield from samples

    def _resampled_shards(self, rng: np.random.Generator) -> Iterator[str]:
        while True:
            yield from (self.shards[i] for i in rng.choice(len(self.shards), size=64,
                                                           p=self.shard_probs))

    @staticmethod
    def _mark_progress(samples: Iterator[dict], log: _ReaderLog) -> Iterator[dict]:
        for sample in samples:
            log.shards_without_samples = 0
            yield sample

    @staticmethod
    def _open_watched(shards: Iterable[str], limit: int, log: _ReaderLog) -> Iterator[dict]:
        """``dict(url=...)`` per shard; raises once ``limit`` shards in a row gave no sample."""
        for url in shards:
            if log.shards_without_samples >= limit:
                raise RuntimeError(f'{log.where}: the last {limit} shards it opened gave no '
                                   f'sample (the last: {url}); check that they are readable tars')
            log.shards_without_samples += 1
            yield dict(url=url)

    def _load(self, item: dict) -> tuple[Any, str, str]:
        """(pipeline output, '', '') for a good sample, else (None, reason, message)."""
        ext = next((k for k in self.image_keys if k in item), None)
        if ext is None:
            return None, 'no_image', f'no image member (.{"/.".join(self.image_keys)})'
        text = item.get(self.caption_key)
        if text is None:
            return None, 'no_caption', f'no .{self.caption_key} member'
        try:
            caption = text.decode('utf-8').strip()
        except UnicodeDecodeError:
            return None, 'no_caption', f'the .{self.caption_key} member is not UTF-8'
        if not caption:
            return None, 'no_caption', 'empty caption'
        meta = None
        if 'json' in item:
            try:
                meta = json.loads(item['json'])
            except ValueError as err:
                return None, 'bad_json', f'malformed .json member ({err})'
        try:
            img = mmcv.imfrombytes(item[ext], flag='color', channel_order='bgr', backend='cv2')
        except cv2.error:  # empty bytes; other undecodable bytes give None
            img = None
        if img is None:
            return None, 'bad_image', f'cannot decode the .{ext} member'
        results = dict(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2],
                       caption=caption, key=item['__key__'], shard=item['__url__'])
        if meta is not None:
            results['json'] = meta
        out = self.pipeline(results)
        if out is None:
            return None, 'filtered', 'dropped by the pipeline'
        return out, '', ''

    @staticmethod
    def _attach(out: Any, info: StreamInfo) -> None:
        """Put ``info`` in the packed data sample's metainfo (or the results dict)."""
        sample = out.get('data_samples') if isinstance(out, dict) else None
        if isinstance(sample, BaseDataElement):
            sample.set_field(info, 'stream', field_type='metainfo')  # set_metainfo deep-copies
        elif isinstance(out, dict):
            out['stream'] = info
        else:
            raise TypeError(f'WebCaptionDataset: the pipeline must return a dict, got '
                            f'{type(out).__name__}')
