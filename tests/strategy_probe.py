"""A hook the strategy tests add to runs of ``tools/train.py`` (``custom_imports``): it records
what each iteration logged and, after training, the trained model's embeddings of fixed inputs
computed through the strategy's own wrapper, and rank 0 saves both to ``work_dir/probe.pt``."""
from __future__ import annotations

import os.path as osp

import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmengine.structures import BaseDataElement

PROBE_CAPTIONS = ('a red circle', 'two yellow stars', 'a small blue square next to a cross')


def probe_inputs() -> tuple[torch.Tensor, list[BaseDataElement]]:
    """Three preprocessed 64 px images and their captions, the same in every process."""
    images = torch.randn(len(PROBE_CAPTIONS), 3, 64, 64,
                         generator=torch.Generator().manual_seed(123))
    return images, [BaseDataElement(metainfo=dict(caption=c)) for c in PROBE_CAPTIONS]


@HOOKS.register_module()
class StrategyProbeHook(Hook):
    """Records ``outputs`` of every iteration, then probes the trained model."""

    priority = 'LOWEST'

    def __init__(self) -> None:
        self.values: dict[int, dict[str, float]] = {}

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self.values[runner.iter] = {k: float(v) for k, v in outputs.items()}

    def after_train(self, runner) -> None:
        # FSDP: every rank runs the root module; DeepSpeed: the engine inside mmengine's wrapper
        model = getattr(runner.model, 'model', runner.model)
        model.eval()
        with torch.no_grad():
            image, text = model(*probe_inputs(), mode='tensor')
        model.train()
        if runner.rank == 0:
            torch.save(dict(values=self.values, image=image, text=text),
                       osp.join(runner.work_dir, 'probe.pt'))
