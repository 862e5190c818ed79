"""Training in optimizer steps over one global batch size, whatever the number of processes."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from mmengine._strategy import DeepSpeedStrategy
from mmengine.optim import OptimWrapper
from mmengine.registry import LOOPS
from mmengine.runner import IterBasedTrainLoop


class _Grouped:
    """``next()`` gives a list of ``size`` consecutive batches of ``batches``."""

    def __init__(self, batches: Iterator, size: int) -> None:
        self.batches = batches
        self.size = size

    def __iter__(self) -> _Grouped:
        return self

    def __next__(self) -> list:
        return [next(self.batches) for _ in range(self.size)]


def merge_batches(batches: Sequence[Any]) -> Any:
    """Concatenate collated batches: lists end to end, tensors along dim 0, dicts key by key."""
    first = batches[0]
    if len(batches) == 1 or first is None:
        return first
    if isinstance(first, dict):
        return {k: merge_batches([b[k] for b in batches]) for k in first}
    if isinstance(first, torch.Tensor):
        return torch.cat(list(batches))
    if isinstance(first, (list, tuple)):
        return [x for b in batches for x in b]
    return first


def accumulation_steps(global_batch_size: int, world_size: int, batch_size: int) -> int:
    """How many batches of ``batch_size`` per process make one step over ``global_batch_size``
    on ``world_size`` processes; a ``ValueError`` saying which sizes work if it is not whole."""
    per_step = world_size * batch_size
    steps, rest = divmod(global_batch_size, per_step)
    if rest or not steps:
        per_process, uneven = divmod(global_batch_size, world_size)
        hint = (f'it is not divisible by the {world_size} processes' if uneven else
                f'train_dataloader.batch_size must divide {per_process}')
        raise ValueError(f'global_batch_size {global_batch_size} is not a whole number of steps '
                         f'of {world_size} processes x batch_size {batch_size} = {per_step} '
                         f'samples: {hint}')
    return steps


@LOOPS.register_module()
class GlobalBatchTrainLoop(IterBasedTrainLoop):
    """MMEngine's ``IterBasedTrainLoop`` in which one iteration is one optimizer step over
    ``global_batch_size`` samples, on any number of processes.

    With ``W`` processes and ``train_dataloader.batch_size`` ``b``, each iteration runs
    ``k = global_batch_size / (W * b)`` forward and backward passes on consecutive batches and
    steps the optimizer once: the loop sets the optimizer wrapper's ``accumulative_counts``
    (DeepSpeed: ``gradient_accumulation_steps`` and ``train_micro_batch_size_per_gpu``) to ``k``
    before the wrapper is built. If ``k`` is not a whole number the loop stops before training,
    naming the sizes that work; a wrapper config or a DeepSpeed config that already says another
    accumulation is an error too.

    So every count in iterations (``max_iters``, ``val_interval``, schedulers' ``begin``/``end``,
    hook intervals, ``TwoPassScheduleHook.cpe_begin``) counts optimizer steps, as a paper's
    schedule does, whatever ``W`` and ``b`` are. Hooks see one iteration per step: the step's
    batches merged into one ``data_batch``, its logged values averaged over them.

    The contrastive loss of one pass sees the ``W * b`` samples of that pass (its negatives), not
    the whole global batch: accumulation averages the gradients of ``k`` such losses, which is
    what the global batch gives for the caption loss but not for the contrastive one.
    """

    def __init__(self, runner, dataloader, max_iters: int, global_batch_size: int,
                 **kwargs) -> None:
        self.accumulative_counts = 1
        super().__init__(runner, dataloader, max_iters, **kwargs)
        batch_size = self.dataloader.batch_size
        if batch_size is None:
            raise ValueError('GlobalBatchTrainLoop needs train_dataloader.batch_size (a '
                             'batch_sampler has no fixed batch size)')
        self.global_batch_size = int(global_batch_size)
        self.accumulative_counts = accumulation_steps(self.global_batch_size,
                                                      runner.world_size, batch_size)
        self._set_accumulation(runner, batch_size)
        runner.logger.info(
            f'global batch {self.global_batch_size} = {runner.world_size} processes x batch '
            f'{batch_size} x {self.accumulative_counts} accumulated passes per step')

    @property
    def dataloader_iterator(self) -> _Grouped:
        """The batches, ``accumulative_counts`` at a time."""
        return _Grouped(self._batches, self.accumulative_counts)

    @dataloader_iterator.setter
    def dataloader_iterator(self, batches: Iterator) -> None:
        self._batches = batches

    def _set_accumulation(self, runner, batch_size: int) -> None:
        k = self.accumulative_counts
        if isinstance(getattr(runner, 'strategy', None), DeepSpeedStrategy):
            config = runner.strategy.config
            given = {key: config.get(key) for key in ('train_batch_size',
                                                       'train_micro_batch_size_per_gpu')}
            want = dict(train_batch_size=self.global_batch_size,
                        train_micro_batch_size_per_gpu=batch_size)
            clash = {key: v for key, v in given.items() if v is not None and v != want[key]}
            if clash:
                raise ValueError(f'DeepSpeed config {clash} contradicts global_batch_size '
                                 f'{self.global_batch_size} with batch_size {batch_size}')
            config.update(want, gradient_accumulation_steps=k)
            return
        wrapper = runner.optim_wrapper
        given = (getattr(wrapper, '_accumulative_counts', 1) if isinstance(wrapper, OptimWrapper)
                 else wrapper.get('accumulative_counts'))
        if given not in (None, k):
            raise ValueError(f'optim_wrapper.accumulative_counts={given} contradicts '
                             f'global_batch_size {self.global_batch_size} = '
                             f'{runner.world_size} processes x batch {batch_size} x {k}; '
                             'leave it out, the loop sets it')
        if not isinstance(wrapper, OptimWrapper):
            wrapper['accumulative_counts'] = k

    def run(self) -> torch.nn.Module:
        # the runner sized the wrapper's accumulation windows in iterations; they are passes
        wrapper = self.runner.optim_wrapper
        if isinstance(wrapper, OptimWrapper):
            k = self.accumulative_counts
            wrapper.initialize_count_status(self.runner.model, self._iter * k,
                                            self._max_iters * k)
        return super().run()

    def run_iter(self, data_batch: list) -> None:
        """One optimizer step: ``data_batch`` is the list of its ``accumulative_counts``
        batches."""
        merged = merge_batches(data_batch)
        self.runner.call_hook('before_train_iter', batch_idx=self._iter, data_batch=merged)
        outputs = [self.runner.model.train_step(batch, optim_wrapper=self.runner.optim_wrapper)
                   for batch in data_batch]
        averaged = {key: sum(o[key] for o in outputs) / len(outputs) for key in outputs[0]}
        self.runner.call_hook('after_train_iter', batch_idx=self._iter, data_batch=merged,
                              outputs=averaged)
        self._iter += 1
