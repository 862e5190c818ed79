"""GlobalBatchTrainLoop: one iteration is one optimizer step over the global batch, made of
``global_batch_size / (processes x batch_size)`` accumulated batches; schedules count steps; a
resumed run (also from WebDataset shards) continues with the very batches it stopped before."""
from __future__ import annotations

import copy

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import Dataset

import mammut_det  # noqa: F401  (registers GlobalBatchTrainLoop)
from mammut_det.engine.global_batch import accumulation_steps
from tests.test_shards_train import toy_shards, trained_keys, write_cfg  # noqa: F401

FEATURES, SAMPLES, BATCH, GLOBAL, STEPS, LR = 3, 24, 2, 8, 3, 0.1


class Samples(Dataset):
    """Sample i: x_i (fixed random), y_i = x_i . (1, -2, 3) + i / 10."""

    def __init__(self) -> None:
        self.x = torch.randn(SAMPLES, FEATURES, generator=torch.Generator().manual_seed(5))
        self.y = self.x @ torch.tensor([1.0, -2.0, 3.0]) + torch.arange(SAMPLES) / 10

    def __len__(self) -> int:
        return SAMPLES

    def __getitem__(self, i: int) -> dict:
        return dict(inputs=self.x[i], target=self.y[i], index=i)


class Regression(BaseModel):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(FEATURES, 1)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, inputs, target=None, index=None, mode='tensor'):
        loss = (self.linear(inputs).squeeze(-1) - target).pow(2).mean()
        return dict(loss=loss, last_index=index[-1].float())


class Record(Hook):
    def __init__(self) -> None:
        self.batches, self.outputs = {}, {}

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self.batches[runner.iter] = data_batch['index'].tolist()
        self.outputs[runner.iter] = {k: float(v) for k, v in outputs.items()}


def runner_cfg(work_dir: str, **train_cfg) -> dict:
    return dict(
        model=Regression(), work_dir=work_dir,
        train_dataloader=dict(dataset=Samples(), batch_size=BATCH, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=False),
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=LR)),
        train_cfg=dict(type='GlobalBatchTrainLoop', max_iters=STEPS, global_batch_size=GLOBAL,
                       **train_cfg),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False)),
        default_scope=None)


def train(cfg: dict, **kwargs) -> tuple[Runner, Record]:
    runner = Runner(**{**cfg, **kwargs})
    record = Record()
    runner.register_hook(record, priority='LOWEST')
    runner.train()
    return runner, record


def test_accumulation_steps_and_the_sizes_that_do_not_fit():
    assert accumulation_steps(16384, 8, 256) == 8
    assert accumulation_steps(16384, 64, 256) == 1
    assert accumulation_steps(4096, 16, 64) == 4
    with pytest.raises(ValueError, match='not divisible by the 3 processes'):
        accumulation_steps(16384, 3, 64)
    with pytest.raises(ValueError, match='batch_size must divide 2048'):
        accumulation_steps(16384, 8, 300)
    with pytest.raises(ValueError, match='batch_size must divide 64'):
        accumulation_steps(128, 2, 128)


def test_one_iteration_is_one_step_over_the_global_batch(tmp_path):
    runner, record = train(runner_cfg(str(tmp_path / 'a')))
    assert runner.train_loop.accumulative_counts == GLOBAL // BATCH
    assert runner.optim_wrapper._accumulative_counts == GLOBAL // BATCH
    assert runner.iter == STEPS
    # hooks see each step once, with its 4 batches merged, and the mean of their outputs
    assert record.batches == {i: list(range(GLOBAL * i, GLOBAL * (i + 1))) for i in range(STEPS)}
    assert record.outputs[1]['last_index'] == pytest.approx((9 + 11 + 13 + 15) / 4)
    # gradient descent on the mean loss over each step's 8 samples, computed here directly
    data = Samples()
    w, b = torch.zeros(FEATURES), torch.zeros(())
    for step in range(STEPS):
        x, y = data.x[GLOBAL * step:GLOBAL * (step + 1)], data.y[GLOBAL * step:GLOBAL * (step + 1)]
        residual = x @ w + b - y
        w, b = w - LR * 2 * (x * residual[:, None]).mean(0), b - LR * 2 * residual.mean()
    torch.testing.assert_close(runner.model.linear.weight.detach()[0], w)
    torch.testing.assert_close(runner.model.linear.bias.detach()[0], b)


def test_resume_continues_with_the_batches_of_the_next_step(tmp_path):
    whole, _ = train(runner_cfg(str(tmp_path / 'a')))
    resumed, record = train(runner_cfg(str(tmp_path / 'b')), resume=True,
                            load_from=str(tmp_path / 'a' / 'iter_2.pth'))
    assert record.batches == {2: list(range(16, 24))}
    torch.testing.assert_close(resumed.model.linear.weight, whole.model.linear.weight)


def test_a_global_batch_that_does_not_fit_stops_before_training(tmp_path):
    cfg = runner_cfg(str(tmp_path / 'a'))
    with pytest.raises(ValueError, match='global_batch_size 8 .* x batch_size 3 = 3 samples'):
        train(cfg, train_dataloader={**cfg['train_dataloader'], 'batch_size': 3})
    stated = copy.deepcopy(cfg['optim_wrapper'])
    stated['accumulative_counts'] = 2
    with pytest.raises(ValueError, match='accumulative_counts=2 contradicts'):
        train(cfg, optim_wrapper=stated)


def test_shard_stream_resumes_sample_exactly_with_accumulation(toy_shards, tmp_path):  # noqa: F811
    data, shards = toy_shards
    cfg = Config.fromfile(write_cfg(tmp_path / 'cfg.py', data, shards, max_iters=4,
                                    num_workers=0))
    cfg.train_cfg = dict(type='GlobalBatchTrainLoop', max_iters=4, global_batch_size=8)
    cfg.default_hooks.checkpoint.interval = 2
    cfg.work_dir = str(tmp_path / 'one')
    Runner.from_cfg(cfg).train()
    full = trained_keys(tmp_path / 'one')
    assert sorted(full) == [(i, 0) for i in range(4)]
    assert all(len(batch) == 8 for batch in full.values())  # 2 batches of 4 a step
    cfg.work_dir = str(tmp_path / 'two')
    cfg.resume, cfg.load_from = True, str(tmp_path / 'one' / 'iter_2.pth')
    Runner.from_cfg(cfg).train()
    assert trained_keys(tmp_path / 'two') == {k: v for k, v in full.items() if k[0] >= 2}
