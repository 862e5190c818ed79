"""A hook that writes the number of skipped unreadable videos into the training log."""
from __future__ import annotations

from mmengine.hooks import Hook
from mmengine.registry import HOOKS


def _datasets_with_skips(dataset) -> list:
    """``dataset`` and the datasets it wraps (``.dataset``/``.datasets``) that count skips."""
    found, stack = [], [dataset]
    while stack:
        ds = stack.pop()
        if hasattr(ds, 'num_skipped'):
            found.append(ds)
        stack.extend(getattr(ds, 'datasets', []) or [])
        if getattr(ds, 'dataset', None) is not None:
            stack.append(ds.dataset)
    return found


@HOOKS.register_module()
class SkippedVideoLoggerHook(Hook):
    """After each training epoch, logs how many unreadable videos were skipped in it and in all,
    and stores the total in the message hub as ``skipped_videos``."""

    priority = 'LOW'

    def __init__(self) -> None:
        self._last_total = 0

    def after_train_epoch(self, runner) -> None:
        datasets = _datasets_with_skips(runner.train_dataloader.dataset)
        if not datasets:
            return
        total = sum(ds.num_skipped for ds in datasets)
        runner.logger.info(f'epoch {runner.epoch + 1}: skipped {total - self._last_total} '
                           f'unreadable videos ({total} since the start)')
        runner.message_hub.update_info('skipped_videos', total)
        self._last_total = total
