"""``tools/train.py --amp``: bf16 (no loss scaling, also on the CPU) or fp16 (dynamic loss
scaling, GPU), the way each strategy does mixed precision."""
from __future__ import annotations

import re
import sys

import pytest
import torch
from mmengine.config import Config
from torch import nn

from mammut_det.engine.precision import AutocastOptimWrapper, apply_amp
from tests.test_pretrain import BASE_CFG, ROOT, run_tool

CONFIGS = ROOT / 'configs' / 'pretrain'


def config(flavour: str) -> Config:
    name = {'ddp': 'mammut_tiny_toy.py', 'fsdp': 'mammut_tiny_toy_fsdp.py',
            'deepspeed': 'mammut_tiny_toy_deepspeed.py'}[flavour]
    return Config.fromfile(CONFIGS / name)


def test_bf16_for_each_strategy():
    ddp = config('ddp')
    assert 'AutocastOptimWrapper' in apply_amp(ddp, 'bf16')
    assert (ddp.optim_wrapper.type, ddp.optim_wrapper.dtype) == ('AutocastOptimWrapper',
                                                                 'bfloat16')
    assert ddp.optim_wrapper.clip_grad == dict(max_norm=1.0)  # the rest of the wrapper stays
    fsdp = config('fsdp')
    apply_amp(fsdp, 'bf16')
    assert fsdp.strategy.model_wrapper.mixed_precision == dict(
        param_dtype='bfloat16', reduce_dtype='float32', buffer_dtype='bfloat16')
    assert fsdp.strategy.model_wrapper.auto_wrap_policy == 'mammut_block_wrap_policy'
    assert 'type' not in fsdp.optim_wrapper  # a plain OptimWrapper: no loss scaling
    deepspeed = config('deepspeed')
    apply_amp(deepspeed, 'bf16')
    assert deepspeed.strategy.bf16 == dict(enabled=True)
    assert deepspeed.strategy.inputs_to_half == ['inputs']
    assert 'fp16' not in deepspeed.strategy


def test_fp16_needs_a_gpu_and_scales_the_loss_dynamically(monkeypatch):
    with pytest.raises(SystemExit, match='fp16 needs a GPU.*use --amp-dtype bf16'):
        apply_amp(config('ddp'), 'fp16')
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    ddp = config('ddp')
    apply_amp(ddp, 'fp16')
    assert (ddp.optim_wrapper.type, ddp.optim_wrapper.dtype,
            ddp.optim_wrapper.loss_scale) == ('AmpOptimWrapper', 'float16', 'dynamic')
    fsdp = config('fsdp')
    apply_amp(fsdp, 'fp16')
    assert fsdp.strategy.model_wrapper.mixed_precision['param_dtype'] == 'float16'
    assert fsdp.optim_wrapper.type == 'AmpOptimWrapper'  # FSDPStrategy: a ShardedGradScaler
    deepspeed = config('deepspeed')
    apply_amp(deepspeed, 'fp16')
    assert deepspeed.strategy.fp16 == dict(enabled=True, loss_scale=0, initial_scale_power=16)
    with pytest.raises(ValueError, match='amp dtype'):
        apply_amp(config('ddp'), 'fp8')


def test_autocast_wrapper_computes_in_bf16_and_keeps_fp32_weights():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 1))
    reference = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 1))
    reference.load_state_dict(model.state_dict())
    x, y = torch.randn(32, 8), torch.randn(32, 1)
    wrapper = AutocastOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    with wrapper.optim_context(model):
        out = model(x)
        loss = (out.float() - y).pow(2).mean()
    assert out.dtype == torch.bfloat16
    wrapper.update_params(loss)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    # one SGD step on the fp32 reference: the same update up to bf16 rounding
    (reference(x) - y).pow(2).mean().backward()
    with torch.no_grad():
        for p, q in zip(model.parameters(), reference.parameters()):
            torch.testing.assert_close(p, q - 0.1 * q.grad, rtol=0.05, atol=0.01)
            assert not torch.equal(p, q - 0.1 * q.grad)  # bf16 arithmetic did happen


@pytest.mark.slow
def test_train_tool_trains_in_bf16_on_the_cpu(tmp_path):
    from mammut_det.datasets import make_toy_captions
    data = tmp_path / 'data'
    make_toy_captions(str(data), num_train=16, num_val=4, size=64, seed=1)
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(f'''
_base_ = [{str(BASE_CFG)!r}]
data_root = {str(data) + '/'!r}
tokenizer = dict(type='BPETokenizer', path={str(data / 'tokenizer.json')!r}, context_length=32)
model = dict(tokenizer=tokenizer)
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root, tokenizer=tokenizer))
val_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
train_cfg = dict(max_iters=2, val_interval=1000)
default_hooks = dict(logger=dict(interval=1))
''')
    res = run_tool([sys.executable, 'tools/train.py', str(cfg), '--work-dir', str(tmp_path / 'w'),
                    '--amp'])
    log = res.stdout + res.stderr
    assert 'mixed precision: optim_wrapper AutocastOptimWrapper (bfloat16)' in log
    losses = [float(v) for v in re.findall(r'\bloss: ([0-9.]+)', log)]
    assert len(losses) == 2 and all(0 < v < 100 for v in losses)
