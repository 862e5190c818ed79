"""A metric over the videos that could be read, with the skipped ones counted and named."""
from __future__ import annotations

import logging
from collections.abc import Sequence

from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmengine.registry import METRICS


@METRICS.register_module()
class ReadableVideosMetric(BaseMetric):
    """Computes ``metric`` over the samples of the videos that were read, leaving out those that
    :class:`~mammut_det.video.CheckedVideoDataset` marked ``unreadable`` (a stand-in sample that
    keeps one sample per index on every process), and adds ``videos_read``, ``videos_skipped``
    and ``skipped_videos`` (their files and annotation lines) beside the metric's own numbers,
    under its prefix (e.g. ``acc/top1``, ``acc/videos_skipped``). The skipped videos are also
    logged as a warning. Records are kept per sample until the end, so the count is the same on
    any number of processes.

    Args:
        metric: config of the wrapped metric (e.g. ``dict(type='AccMetric')``); it receives the
            read samples one at a time, with the whole ``data_batch``.
    """

    def __init__(self, metric: dict, collect_device: str = 'cpu',
                 prefix: str | None = None) -> None:
        inner = METRICS.build(metric)
        super().__init__(collect_device=collect_device, prefix=prefix or inner.prefix)
        self.metric = inner

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            unreadable = sample.get('unreadable')
            if unreadable is not None:
                self.results.append(dict(unreadable=unreadable, records=[]))
                continue
            self.metric.process(data_batch, [sample])
            self.results.append(dict(unreadable=None, records=list(self.metric.results)))
            self.metric.results.clear()

    def compute_metrics(self, results: list) -> dict:
        skipped = [r['unreadable'] for r in results if r['unreadable'] is not None]
        records = [rec for r in results for rec in r['records']]
        read = len(results) - len(skipped)
        if skipped:
            print_log(f'{len(skipped)} of {len(results)} videos could not be read and are not in '
                      f'the metric: {"; ".join(skipped)}', logger='current',
                      level=logging.WARNING)
        out = self.metric.compute_metrics(records)
        # counts as floats: MMEngine 0.10.7's LoggerHook drops numpy integers from the JSON log
        out.update(videos_read=float(read), videos_skipped=float(len(skipped)),
                   skipped_videos=skipped)
        return out
