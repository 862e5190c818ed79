"""Skip counts, sample keys and sample-exact resume for :class:`WebCaptionDataset` streams."""
from __future__ import annotations

import json
import os
import os.path as osp
from collections.abc import Iterator
from typing import Any

import torch
from mmengine.dist import all_gather, get_dist_info
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from torch.utils.data import DataLoader

from ..datasets.shards import REASONS, StreamInfo, WebCaptionDataset

#: The checkpoint key the hook saves its state under.
CHECKPOINT_KEY = 'shard_stream'


class _ResumedBatches:
    """The train loop's batch iterator after a sample-exact resume.

    mmengine 0.10.7's ``IterBasedTrainLoop.run`` finds its place after a resume by drawing
    ``iter`` batches and discarding them. The dataset already starts where the run stopped, so
    those first ``skip`` draws are answered with ``None`` and read nothing."""

    def __init__(self, dataloader: DataLoader, skip: int) -> None:
        self._skip = skip
        self._batches = iter(dataloader)

    def __iter__(self) -> Iterator:
        return self

    def __next__(self) -> Any:
        if self._skip > 0:
            self._skip -= 1
            return None
        return next(self._batches)


def _stream_infos(data_batch: dict | None) -> list[StreamInfo]:
    """The ``stream`` metainfo of every sample of a batch, in order."""
    if not data_batch:
        return []
    if 'stream' in data_batch:
        return list(data_batch['stream'])
    return [s.metainfo['stream'] for s in data_batch.get('data_samples') or []
            if 'stream' in s.metainfo]


def _counts(skipped: dict[str, int]) -> str:
    return ', '.join(f'{k} {v}' for k, v in skipped.items() if v) or 'none'


@HOOKS.register_module()
class ShardStreamHook(Hook):
    """Companion of :class:`mammut_det.datasets.WebCaptionDataset` in training.

    - Tracks, from each trained batch's ``stream`` metainfo, where every reader (rank x
      dataloader worker) is: its epoch, its position in the epoch's sample stream, the good
      samples it delivered and its skip counts by reason; logs them every ``interval``
      iterations and at the end (all ranks, gathered on rank 0), and each reader's epoch ends.
    - Saves that position, all ranks gathered (a small tensor each iteration, as
      ``Runner.save_checkpoint`` runs on rank 0 only), in every checkpoint
      (``checkpoint['shard_stream']``)
      and, on ``--resume``, restores it in the dataset (:meth:`WebCaptionDataset.restore`) and
      restarts the dataloader there: the resumed run trains on exactly the batches the stopped
      run would have, with no sample decoded twice. The dataset's order is a function of its seed,
      so resuming without the hook is also exact but re-reads and re-transforms every earlier
      batch of the run (mmengine's fast-forward). A checkpoint from another number of ranks or
      workers cannot be continued sample-exactly; the run then goes on at the next epoch.
    - With ``log_keys_to`` (a folder, relative to the work dir), appends one JSON line per trained
      sample to ``{log_keys_to}/rank{r}.jsonl``: ``iter``, ``rank``, ``worker``, ``epoch``, ``key``,
      ``shard``. A debugging record of what the model saw (files grow with the run).
    """

    priority = 'NORMAL'

    def __init__(self, interval: int = 50, log_keys_to: str | None = None,
                 max_readers_listed: int = 32) -> None:
        if interval < 1:
            raise ValueError(f'ShardStreamHook: interval must be >= 1, got {interval}')
        self.interval = interval
        self.log_keys_to = log_keys_to
        self.max_readers_listed = max_readers_listed
        self._readers: dict[int, dict] = {}
        self._next_reader = 0
        self._ranks: list[dict] | None = None
        self._loaded: dict | None = None
        self._keys_file = None

    @staticmethod
    def _dataset(runner) -> WebCaptionDataset:
        dataset = runner.train_dataloader.dataset
        if not isinstance(dataset, WebCaptionDataset):
            raise TypeError(f'ShardStreamHook needs a WebCaptionDataset to train on, got '
                            f'{type(dataset).__name__}')
        return dataset

    @staticmethod
    def _num_workers(runner) -> int:
        return max(1, runner.train_dataloader.num_workers)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._loaded = checkpoint.get(CHECKPOINT_KEY)

    def before_train(self, runner) -> None:
        dataset = self._dataset(runner)
        if self.log_keys_to:
            folder = osp.join(runner.work_dir, self.log_keys_to)
            os.makedirs(folder, exist_ok=True)
            self._keys_file = open(osp.join(folder, f'rank{runner.rank}.jsonl'), 'a')
        state, self._loaded = self._loaded, None
        if runner.iter == 0:
            return
        loop = runner.train_loop
        if state is None:
            runner.logger.warning(f'ShardStreamHook: the checkpoint has no {CHECKPOINT_KEY!r} '
                                  f'state; the loop re-reads {runner.iter} batches to find its '
                                  'place')
            return
        num_workers = self._num_workers(runner)
        rank, world_size = get_dist_info()
        if (state['world_size'], state['num_workers']) == (world_size, num_workers):
            mine = state['ranks'][rank]
            self._readers = dict(mine['readers'])
            self._next_reader = mine['next_reader']
            self._ranks = state['ranks']
            runner.logger.info(f'ShardStreamHook: resuming the shard stream at iteration '
                               f'{runner.iter}: {self._describe(state["ranks"])}')
        else:
            epoch = 1 + max((info['epoch'] for r in state['ranks']
                             for info in r['readers'].values()), default=-1)
            runner.logger.warning(
                f'ShardStreamHook: the checkpoint streamed with {state["world_size"]} ranks x '
                f'{state["num_workers"]} workers, this run has {world_size} x {num_workers}; '
                f'the rest of its epoch cannot be continued sample-exactly, starting epoch {epoch}')
            self._readers = {w: dict(epoch=epoch, position=0, count=0, skipped={})
                             for w in range(num_workers)}
            self._next_reader = 0
        dataset.restore(state['seed'], self._readers, self._next_reader, num_workers)
        # a GlobalBatchTrainLoop iteration draws accumulative_counts batches
        drawn = runner.iter * getattr(loop, 'accumulative_counts', 1)
        loop.dataloader_iterator = _ResumedBatches(loop.dataloader, drawn)

    def after_train_iter(self, runner, batch_idx: int, data_batch: dict | None = None,
                         outputs: dict | None = None) -> None:
        infos = _stream_infos(data_batch)
        for info in infos:
            self._readers[info.worker] = info.state()
            if info.count == info.epoch_length:
                runner.logger.info(f'shard stream: reader r{info.rank}w{info.worker} finished '
                                   f'epoch {info.epoch}: {info.count} samples in '
                                   f'{info.position} read; skipped so far: '
                                   f'{_counts(info.skipped)}')
            if self._keys_file is not None:
                self._keys_file.write(json.dumps(dict(
                    iter=runner.iter, rank=info.rank, worker=info.worker, epoch=info.epoch,
                    key=info.key, shard=info.shard)) + '\n')
        if infos:
            self._next_reader = (infos[-1].worker + 1) % self._num_workers(runner)
        if self._keys_file is not None:
            self._keys_file.flush()
        # every iteration, so that rank 0 alone can save it (Runner.save_checkpoint is
        # master-only): a [world, workers + 1, fields] int64 tensor, small
        num_workers = self._num_workers(runner)
        self._ranks = [self._decode(t, num_workers) for t in
                       all_gather(self._encode(num_workers))]
        if self.every_n_train_iters(runner, self.interval):
            self._log(runner, runner.iter + 1)

    def after_train(self, runner) -> None:
        self._log(runner, runner.iter)
        if self._keys_file is not None:
            self._keys_file.close()
            self._keys_file = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self._ranks is not None:
            checkpoint[CHECKPOINT_KEY] = dict(
                seed=self._dataset(runner).seed, world_size=len(self._ranks),
                num_workers=self._num_workers(runner), ranks=self._ranks)

    def _encode(self, num_workers: int) -> torch.Tensor:
        """Rows ``(1, epoch, position, count, *skipped)`` per worker with a trained sample, and
        a last row holding the next worker due."""
        out = torch.zeros(num_workers + 1, 4 + len(REASONS), dtype=torch.int64)
        for w, i in self._readers.items():
            out[w] = torch.tensor([1, i['epoch'], i['position'], i['count'],
                                   *(i['skipped'].get(r, 0) for r in REASONS)])
        out[num_workers, 0] = self._next_reader
        return out

    @staticmethod
    def _decode(rows: torch.Tensor, num_workers: int) -> dict:
        readers = {w: dict(epoch=row[1], position=row[2], count=row[3],
                           skipped=dict(zip(REASONS, row[4:])))
                   for w, row in enumerate(rows[:num_workers].tolist()) if row[0]}
        return dict(next_reader=int(rows[num_workers, 0]), readers=readers)

    def _log(self, runner, iterations: int) -> None:
        if self._ranks is not None:
            runner.logger.info(f'shard stream after iteration {iterations}: '
                               f'{self._describe(self._ranks)}')

    def _describe(self, ranks: list[dict]) -> str:
        readers = [(r, w, info) for r, state in enumerate(ranks)
                   for w, info in sorted(state['readers'].items())]
        if not readers:
            return 'no sample trained on yet'
        total = {k: sum(i['skipped'].get(k, 0) for _, _, i in readers) for k in REASONS}
        epochs = sorted({i['epoch'] for _, _, i in readers})
        listed = [x for x in readers if len(readers) <= self.max_readers_listed
                  or any(x[2]['skipped'].values())][:self.max_readers_listed]
        per_reader = '; '.join(f'r{r}w{w} epoch {i["epoch"]} sample {i["count"]} '
                               f'(read {i["position"]}) skipped {sum(i["skipped"].values())}'
                               for r, w, i in listed)
        return (f'{len(readers)} readers at epoch {epochs[0]}'
                + (f'-{epochs[-1]}' if len(epochs) > 1 else '')
                + f'; skipped {sum(total.values())} samples ({_counts(total)}); {per_reader}')
