"""Two-pass pretraining through MMEngine's runner and the real tools: learning, checkpoints,
resume, the schedule hook and distributed training on CPU."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import MODELS
from mmengine.runner import Runner, load_checkpoint

from mammut_det.datasets import make_toy_captions, make_toy_classes
from mammut_det.engine import TwoPassScheduleHook

ROOT = Path(__file__).resolve().parents[1]
BASE_CFG = ROOT / 'configs' / 'pretrain' / 'mammut_tiny_toy.py'
ZERO_SHOT_CFG = ROOT / 'configs' / 'pretrain' / 'mammut_tiny_toy_zeroshot_cls.py'


@pytest.fixture(scope='module')
def toy_data(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp('toy_captions')
    make_toy_captions(str(out), num_train=800, num_val=100, size=64, seed=1)
    return out


def write_cfg(tmp_path: Path, data: Path, max_iters: int, ckpt_interval: int,
              val_interval: int, batch_size: int = 32, lr: float = 1e-3) -> Path:
    """A config file inheriting the toy pretraining config, pointed at ``data``."""
    warmup = min(20, max_iters // 2)
    cfg = f'''
_base_ = [{str(BASE_CFG)!r}]
data_root = {str(data) + '/'!r}
model = dict(tokenizer=dict(type='BPETokenizer', path={str(data / 'tokenizer.json')!r},
                            context_length=32))
train_dataloader = dict(batch_size={batch_size}, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root, tokenizer=model['tokenizer']))
val_dataloader = dict(num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
train_cfg = dict(max_iters={max_iters}, val_interval={val_interval})
optim_wrapper = dict(optimizer=dict(lr={lr}))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end={warmup}),
    dict(type='CosineAnnealingLR', T_max={max_iters - warmup}, by_epoch=False, begin={warmup},
         end={max_iters}, eta_min_ratio=0.05)]
default_hooks = dict(checkpoint=dict(interval={ckpt_interval}), logger=dict(interval=10))
'''
    path = tmp_path / f'pretrain_{max_iters}.py'
    path.write_text(cfg)
    return path


def run_tool(args: list[str], timeout: int = 600,
             extra_env: dict | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED='1', **(extra_env or {}))
    res = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                         env=env)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-5000:]
    return res


def losses(log: str, key: str) -> list[float]:
    return [float(v) for v in re.findall(rf'\b{key}: ([0-9.]+)', log)]


@pytest.mark.slow
def test_training_lowers_losses_and_learns_retrieval_and_zero_shot_classes(toy_data, tmp_path):
    cfg = write_cfg(tmp_path, toy_data, max_iters=240, ckpt_interval=240, val_interval=240)
    res = run_tool([sys.executable, 'tools/train.py', str(cfg), '--work-dir',
                    str(tmp_path / 'work')], timeout=1200)
    log = res.stdout + res.stderr
    cap, con = losses(log, 'loss_caption'), losses(log, 'loss_contrastive')
    i2t = float(re.findall(r'retrieval/i2t@1: ([0-9.]+)', log)[-1])
    chance = float(re.findall(r'retrieval/chance_i2t@1: ([0-9.]+)', log)[-1])
    print(f'\nloss_caption {cap[0]:.3f} -> {cap[-1]:.3f}; loss_contrastive {con[0]:.3f} -> '
          f'{con[-1]:.3f}; held-out image->text top-1 {i2t:.1f}% (chance {chance:.1f}%)')
    assert cap[-1] < 0.5 * cap[0]
    assert con[-1] < 0.5 * con[0]
    assert i2t > 5 * chance and i2t > 8.0
    assert 'checkpoint saved to' in log
    assert (tmp_path / 'work' / 'iter_240.pth').exists()
    zero_shot_classification_beats_chance(toy_data, tmp_path, tmp_path / 'work' / 'iter_240.pth')


def zero_shot_classification_beats_chance(data: Path, tmp_path: Path, ckpt: Path) -> None:
    """The pretrained checkpoint through tools/test.py and the zero-shot classification preset:
    56 colour x shape classes named only in text."""
    classes_root = tmp_path / 'toy_classes'
    make_toy_classes(str(classes_root), num_per_class=4, size=64, seed=5)
    cfg = tmp_path / 'zero_shot.py'
    cfg.write_text(f'''
_base_ = [{str(ZERO_SHOT_CFG)!r}]
classes_root = {str(classes_root) + '/'!r}
model = dict(tokenizer=dict(type='BPETokenizer', path={str(data / 'tokenizer.json')!r},
                            context_length=32), classes=classes_root + 'classes.txt')
test_dataloader = dict(num_workers=0, persistent_workers=False,
                       dataset=dict(data_root=classes_root, classes=classes_root + 'classes.txt'))
''')
    res = run_tool([sys.executable, 'tools/test.py', str(cfg), str(ckpt), '--work-dir',
                    str(tmp_path / 'zero_shot')])
    log = res.stdout + res.stderr
    top1 = float(re.findall(r'acc/top1: ([0-9.]+)', log)[-1])
    top5 = float(re.findall(r'acc/top5: ([0-9.]+)', log)[-1])
    print(f'zero-shot classification of 224 single shapes among 56 classes: top-1 {top1:.3f}, '
          f'top-5 {top5:.3f} (chance {1 / 56:.3f}, {5 / 56:.3f})')
    assert top1 > 3 / 56 and top5 > 3 * 5 / 56


class RecordLosses(Hook):
    """Every iteration's logged values (the losses and the temperature), by iteration."""

    def __init__(self) -> None:
        self.values: dict[int, dict[str, float]] = {}

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self.values[runner.iter] = {k: float(v) for k, v in outputs.items()}


@pytest.fixture(scope='module')
def short_run(toy_data, tmp_path_factory):
    """A 20-iteration run with checkpoints every 10, kept in memory, its losses recorded."""
    tmp = tmp_path_factory.mktemp('short')
    cfg = Config.fromfile(write_cfg(tmp, toy_data, max_iters=20, ckpt_interval=10,
                                    val_interval=1000, batch_size=8))
    cfg.work_dir = str(tmp / 'work')
    # data from worker processes, and cropped positional embeddings from iteration 5
    cfg.train_dataloader.update(num_workers=2, persistent_workers=True)
    cfg.custom_hooks = [dict(type='TwoPassScheduleHook', cpe_begin=5)]
    runner = Runner.from_cfg(cfg)
    record = RecordLosses()
    runner.register_hook(record, priority='LOW')
    runner.train()
    return cfg, runner, record.values


def test_checkpoint_reloads_to_identical_embeddings(short_run):
    cfg, runner, _ = short_run
    model = runner.model.eval()
    images = torch.randn(3, 3, 64, 64)
    texts = ['a red circle', 'two shapes: a blue star and a green square', 'a yellow cross']
    with torch.no_grad():
        want = model.encode_image(images), model.encode_text(texts)
    rebuilt = MODELS.build(cfg.model).eval()
    load_checkpoint(rebuilt, os.path.join(cfg.work_dir, 'iter_20.pth'), strict=True)
    with torch.no_grad():
        got = rebuilt.encode_image(images), rebuilt.encode_text(texts)
    torch.testing.assert_close(got[0], want[0], rtol=0, atol=0)
    torch.testing.assert_close(got[1], want[1], rtol=0, atol=0)


def test_resume_repeats_the_uninterrupted_run(short_run, tmp_path):
    """Resumed at iteration 10, the run logs the same losses for iterations 11-20 as the run that
    was not interrupted: same data, pass orders, crops and optimizer state."""
    cfg, _, uninterrupted = short_run
    cfg = cfg.copy()
    cfg.work_dir = str(tmp_path / 'resumed')
    cfg.resume = True
    cfg.load_from = os.path.join(short_run[0].work_dir, 'iter_10.pth')
    seen = []

    class Record(TwoPassScheduleHook):
        def before_train_iter(self, runner, batch_idx, data_batch=None):
            seen.append(runner.iter)
            super().before_train_iter(runner, batch_idx, data_batch)

    runner = Runner.from_cfg(cfg)
    runner.register_hook(Record(), priority='LOW')
    record = RecordLosses()
    runner.register_hook(record, priority='LOW')
    runner.train()
    assert seen[0] == 10 and seen[-1] == 19 and len(seen) == 10
    assert runner.iter == 20
    assert sorted(record.values) == list(range(10, 20))
    for it, values in record.values.items():
        assert values.keys() == uninterrupted[it].keys()
        for key, value in values.items():
            assert value == pytest.approx(uninterrupted[it][key], rel=1e-6, abs=1e-7), (it, key)


def test_schedule_hook_is_reproducible_and_weights_follow_the_schedule():
    hook = TwoPassScheduleHook(seed=3, weight_schedule=[
        dict(begin=0, contrastive=1.0, generative=0.0),
        dict(begin=100, contrastive=1.0, generative=0.5)], cpe_begin=0.9)
    again = TwoPassScheduleHook(seed=3)
    orders = [hook.order_at(i) for i in range(200)]
    assert orders == [again.order_at(i) for i in range(200)]
    firsts = sum(o[0] == 'generative' for o in orders)
    assert 70 < firsts < 130, 'the order should be shuffled about half and half'
    assert [TwoPassScheduleHook(seed=4).order_at(i) for i in range(20)] != orders[:20]
    assert hook.weights_at(99) == dict(contrastive=1.0, generative=0.0)
    assert hook.weights_at(100) == dict(contrastive=1.0, generative=0.5)
    assert hook._cpe_on(899, 1000) is False and hook._cpe_on(900, 1000) is True
    fixed = TwoPassScheduleHook(shuffle=False, order=('generative', 'contrastive'))
    assert {fixed.order_at(i) for i in range(10)} == {('generative', 'contrastive')}


def test_schedule_hook_rejects_bad_weights():
    with pytest.raises(KeyError, match='generative'):
        TwoPassScheduleHook(weights=dict(contrastive=1.0))
    with pytest.raises(ValueError, match='not all 0'):
        TwoPassScheduleHook(weights=dict(contrastive=0.0, generative=0.0))


def test_training_without_the_hook_fails_clearly(toy_data, tmp_path):
    cfg = Config.fromfile(write_cfg(tmp_path, toy_data, max_iters=2, ckpt_interval=10,
                                    val_interval=1000, batch_size=4))
    cfg.custom_hooks = []
    cfg.work_dir = str(tmp_path / 'nohook')
    with pytest.raises(RuntimeError, match='TwoPassScheduleHook'):
        Runner.from_cfg(cfg).train()


def test_cpe_phase_is_switched_on_by_the_hook(toy_data, tmp_path):
    cfg = Config.fromfile(write_cfg(tmp_path, toy_data, max_iters=4, ckpt_interval=10,
                                    val_interval=1000, batch_size=4))
    cfg.custom_hooks = [dict(type='TwoPassScheduleHook', cpe_begin=2)]
    cfg.work_dir = str(tmp_path / 'cpe')
    runner = Runner.from_cfg(cfg)
    states = []
    runner.model.visual.register_forward_pre_hook(
        lambda m, a: states.append(bool(m.use_cpe and m.training)))
    runner.train()
    assert states[:4] == [False, False, True, True]  # then eval at the end: off
    assert not any(states[4:])
    assert runner.message_hub.get_scalar('train/cpe').current() == 1.0


@pytest.mark.slow
def test_distributed_training_on_cpu_with_two_processes(toy_data, tmp_path):
    cfg = write_cfg(tmp_path, toy_data, max_iters=4, ckpt_interval=4, val_interval=1000,
                    batch_size=4)
    work = tmp_path / 'dist'
    res = run_tool(['bash', 'tools/dist_train.sh', str(cfg), '2', '--work-dir', str(work)],
                   extra_env=dict(PYTHON=sys.executable, PORT='29517', OMP_NUM_THREADS='1'))
    log = res.stdout + res.stderr
    assert 'distributed training: world size 2, backend gloo' in log
    assert (work / 'iter_4.pth').exists()
