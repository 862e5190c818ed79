"""Pretraining through ``tools/dist_train.sh`` under each strategy on 2 gloo processes: FSDP
(FlexibleRunner + FSDPStrategy) and DeepSpeed ZeRO 2 log the same losses as DDP (the normal
Runner) on the same data and weights, with gradient clipping and the temperature clamp in play;
their checkpoints load into a plain MaMMUT that gives the trained model's embeddings; an FSDP run
stopped and resumed logs what the uninterrupted one did."""
from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS
from mmengine.runner import load_checkpoint

from mammut_det.datasets import make_toy_captions
from mammut_det.detection.backbone import MaMMUTViTBackbone
from tests.strategy_probe import probe_inputs
from tests.test_pretrain import run_tool

ROOT = Path(__file__).resolve().parents[1]
PRETRAIN = ROOT / 'configs' / 'pretrain'
CONFIGS = {'ddp': PRETRAIN / 'mammut_tiny_toy.py', 'fsdp': PRETRAIN / 'mammut_tiny_toy_fsdp.py',
           'deepspeed': PRETRAIN / 'mammut_tiny_toy_deepspeed.py'}
ITERS = 4
# logit_scale starts above log(100): the clamp after step 1 must show in what step 2 logs
INIT_TEMPERATURE = 0.005
ENV = dict(PYTHON=sys.executable, OMP_NUM_THREADS='1')


@pytest.fixture(scope='module')
def toy(tmp_path_factory) -> tuple[Path, Path]:
    """Toy captions and the initial weights every run starts from."""
    data = tmp_path_factory.mktemp('toy_strategies')
    make_toy_captions(str(data), num_train=64, num_val=8, size=64, seed=1)
    cfg = Config.fromfile(CONFIGS['ddp'])
    cfg.model.tokenizer.path = str(data / 'tokenizer.json')
    cfg.model.init_temperature = INIT_TEMPERATURE
    torch.manual_seed(0)
    init = data / 'init.pth'
    torch.save({'state_dict': MODELS.build(cfg.model).state_dict()}, init)
    return data, init


def write_cfg(path: Path, flavour: str, data: Path, init: Path, ckpt_interval: int) -> Path:
    """The toy pretraining config of ``flavour`` on ``data``, from ``init``, logging every
    iteration's values (no smoothing) and probing the model at the end."""
    path.write_text(f'''
_base_ = [{str(CONFIGS[flavour])!r}]
custom_imports = dict(imports=['mammut_det', 'tests.strategy_probe'], allow_failed_imports=False)
data_root = {str(data) + '/'!r}
tokenizer = dict(type='BPETokenizer', path={str(data / 'tokenizer.json')!r}, context_length=32)
model = dict(tokenizer=tokenizer, init_cfg=dict(type='Pretrained', checkpoint={str(init)!r}))
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root, tokenizer=tokenizer))
val_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
train_cfg = dict(max_iters={ITERS}, val_interval=1000)
default_hooks = dict(checkpoint=dict(interval={ckpt_interval}, max_keep_ckpts=4),
                     logger=dict(interval=1))
log_processor = dict(window_size=1)
custom_hooks = [dict(type='TwoPassScheduleHook'), dict(type='StrategyProbeHook')]
''')
    return path


def train(tmp: Path, flavour: str, toy, port: int, ckpt_interval: int = ITERS,
          resume: Path | None = None) -> tuple[Path, dict]:
    """Runs ``tools/dist_train.sh`` on 2 processes; returns the work dir and the probe."""
    work = tmp / f'{flavour}{"_resumed" if resume else ""}'
    cfg = write_cfg(tmp / f'{work.name}.py', flavour, *toy, ckpt_interval)
    args = ['bash', 'tools/dist_train.sh', str(cfg), '2', '--work-dir', str(work)]
    if resume is not None:
        args += ['--resume', str(resume)]
    res = run_tool(args, extra_env=dict(ENV, PORT=str(port)))
    assert 'distributed training: world size 2, backend gloo' in res.stdout + res.stderr
    return work, torch.load(work / 'probe.pt')


def assert_same_values(got: dict, want: dict, rel: float) -> None:
    assert sorted(got) == sorted(want)
    for it in got:
        assert got[it].keys() == want[it].keys()
        for key, value in got[it].items():
            assert value == pytest.approx(want[it][key], rel=rel), (it, key)


@pytest.fixture(scope='module')
def ddp(toy, tmp_path_factory):
    return train(tmp_path_factory.mktemp('ddp'), 'ddp', toy, 29561)


@pytest.fixture(scope='module')
def fsdp(toy, tmp_path_factory):
    return train(tmp_path_factory.mktemp('fsdp'), 'fsdp', toy, 29562, ckpt_interval=2)


def plain_model(data: Path, state_dict_file: Path):
    cfg = Config.fromfile(CONFIGS['ddp'])
    cfg.model.tokenizer.path = str(data / 'tokenizer.json')
    model = MODELS.build(cfg.model).eval()
    load_checkpoint(model, str(state_dict_file), strict=True, map_location='cpu')
    return model


def assert_probe(model, probe: dict) -> None:
    with torch.no_grad():
        image, text = model(*probe_inputs(), mode='tensor')
    torch.testing.assert_close(image, probe['image'], rtol=0, atol=1e-6)
    torch.testing.assert_close(text, probe['text'], rtol=0, atol=1e-6)


@pytest.mark.slow
def test_fsdp_trains_as_ddp_and_saves_a_plain_full_checkpoint(toy, ddp, fsdp):
    ddp_probe, (fsdp_work, fsdp_probe) = ddp[1], fsdp
    assert sorted(ddp_probe['values']) == list(range(ITERS))
    assert_same_values(fsdp_probe['values'], ddp_probe['values'], rel=1e-5)
    temperatures = [ddp_probe['values'][i]['temperature'] for i in range(ITERS)]
    assert temperatures[0] == pytest.approx(INIT_TEMPERATURE, rel=1e-6)
    assert temperatures[1] == pytest.approx(0.01, rel=1e-6)  # clamped to exp(-log 100)
    # the FSDP checkpoint is a full state dict with plain keys and the model's own shapes
    ckpt = torch.load(fsdp_work / f'iter_{ITERS}.pth', map_location='cpu')
    assert ckpt['state_dict']['logit_scale'].shape == ()
    assert all(not k.startswith(('module.', '_fsdp')) for k in ckpt['state_dict'])
    model = plain_model(toy[0], fsdp_work / f'iter_{ITERS}.pth')
    assert_probe(model, fsdp_probe)
    torch.testing.assert_close(fsdp_probe['image'], ddp_probe['image'], rtol=0, atol=1e-5)
    assert math.log(100) - 1e-3 < float(model.logit_scale) <= math.log(100) + 1e-6
    # the detector's backbone loads its image tower from it
    backbone = MaMMUTViTBackbone(img_size=64, patch_size=8, width=64, depth=2, num_heads=2,
                                 embed_dim=64, window_size=0)
    report = backbone.load_pretrained(str(fsdp_work / f'iter_{ITERS}.pth'))
    assert not report.missing and not report.unexpected
    torch.testing.assert_close(backbone.blocks[1].mlp.c_fc.weight,
                               model.visual.blocks[1].mlp.c_fc.weight, rtol=0, atol=0)


@pytest.mark.slow
def test_fsdp_resumed_run_logs_what_the_uninterrupted_one_did(toy, fsdp, tmp_path):
    fsdp_work, uninterrupted = fsdp
    stop = ITERS // 2
    _, resumed = train(tmp_path, 'fsdp', toy, 29563, resume=fsdp_work / f'iter_{stop}.pth')
    assert sorted(resumed['values']) == list(range(stop, ITERS))
    assert_same_values(resumed['values'],
                       {i: uninterrupted['values'][i] for i in range(stop, ITERS)}, rel=1e-6)
    torch.testing.assert_close(resumed['image'], uninterrupted['image'], rtol=0, atol=1e-6)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec('deepspeed') is None,
                    reason='deepspeed is not installed (tools/install.sh installs it)')
def test_deepspeed_zero2_trains_as_ddp_and_converts_to_a_plain_checkpoint(toy, ddp, tmp_path):
    from mammut_det.engine import zero_to_state_dict
    ddp_probe = ddp[1]
    work, probe = train(tmp_path, 'deepspeed', toy, 29564)
    # the same losses, gradient norms clipped alike (gradient_clipping = clip_grad.max_norm),
    # and the clamped temperature kept by the optimizer's own fp32 copy from step 2 on
    assert_same_values(probe['values'], ddp_probe['values'], rel=1e-5)
    folder = work / f'iter_{ITERS}.pth'
    assert folder.is_dir()
    out = tmp_path / 'full.pth'
    zero_to_state_dict(str(folder), str(out))
    assert_probe(plain_model(toy[0], out), probe)
