"""The pretraining configs at the paper's scale (B/16, the B/16 ablation, L/14, H/14; DDP, FSDP,
DeepSpeed): the paper's recipe as numbers, the model shapes, the pipeline, and a short run of the
B/16 config (its blocks cut down) from shards through tools/train.py."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmcv.transforms import Compose
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import MODELS, PARAM_SCHEDULERS

from mammut_det.datasets import make_toy_captions
from mammut_det.models.layers import Block, CrossAttentionBlock
from tests.test_pretrain import run_tool
from tests.test_shards import load_make_shards

ROOT = Path(__file__).resolve().parents[1]
PRETRAIN = ROOT / 'configs' / 'pretrain'
MODELS_ = {'mammut_b16_web': 16384, 'mammut_b16-dec128m_web_4k': 4096, 'mammut_l14_web': 16384,
           'mammut_h14_web': 16384}
FLAVOURS = ('', '_fsdp', '_deepspeed')
ALL = [(name, flavour) for name in MODELS_ for flavour in FLAVOURS]


@pytest.mark.parametrize('name,flavour', ALL)
def test_paper_recipe(name, flavour):
    cfg = Config.fromfile(PRETRAIN / f'{name}{flavour}.py')
    assert cfg.train_cfg.type == 'GlobalBatchTrainLoop'
    assert cfg.train_cfg.global_batch_size == MODELS_[name]
    assert cfg.train_cfg.max_iters == 600_000
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.weight_decay) == ('AdamW', 1e-3, 0.01)
    schedule, cpe = cfg.custom_hooks[0], 500_000
    assert schedule == dict(type='TwoPassScheduleHook', weights=dict(contrastive=1.0,
                            generative=1.0), shuffle=True, cpe_begin=cpe)
    assert cfg.custom_hooks[1].type == 'ShardStreamHook'
    assert cfg.model.init_temperature == 1.0
    assert cfg.model.local_loss  # the full 16K x 16K logit matrix on every GPU would be ~16 GB
    assert (cfg.model.text.context_length == cfg.model.tokenizer.context_length
            == cfg.train_dataloader.dataset.tokenizer.context_length == 64)
    pipeline = cfg.train_dataloader.dataset.pipeline
    assert pipeline[0] == dict(type='Resize', scale=(272, 272), keep_ratio=False)
    assert pipeline[1] == dict(type='mmdet.RandomCrop', crop_size=(224, 224))
    if flavour == '':
        assert 'runner_type' not in cfg
        assert cfg.optim_wrapper.clip_grad == dict(max_norm=1.0)
    elif flavour == '_fsdp':
        assert cfg.runner_type == 'FlexibleRunner' and cfg.strategy.type == 'FSDPStrategy'
        assert cfg.strategy.state_dict_cfg == 'full'
        assert cfg.strategy.model_wrapper.auto_wrap_policy == 'mammut_block_wrap_policy'
    else:
        assert cfg.runner_type == 'FlexibleRunner' and cfg.strategy.type == 'DeepSpeedStrategy'
        assert cfg.optim_wrapper.type == 'DeepSpeedOptimWrapper'
        assert set(cfg.optim_wrapper) == {'type', 'optimizer', 'paramwise_cfg'}
        assert cfg.strategy.gradient_clipping == 1.0  # explicit: deepspeed 0.19 defaults to 1.0
        assert cfg.strategy.zero_optimization.stage == 2


def test_learning_rate_warms_up_for_10k_steps_then_decays_linearly_to_0():
    cfg = Config.fromfile(PRETRAIN / 'mammut_b16_web.py')
    warmup, decay = cfg.param_scheduler
    assert (warmup.type, warmup.begin, warmup.end, warmup.start_factor) == ('LinearLR', 0,
                                                                           10_000, 1e-3)
    assert (decay.type, decay.begin, decay.end, decay.start_factor, decay.end_factor) == (
        'LinearLR', 10_000, 600_000, 1.0, 0.0)
    assert not warmup.by_epoch and not decay.by_epoch
    # the same schedulers over 1/1000 of the steps: mmengine's linear schedulers reach their
    # end factor at the last step of [begin, end)
    wrapper = build_optim_wrapper(torch.nn.Linear(2, 2), dict(cfg.optim_wrapper))
    schedulers = [PARAM_SCHEDULERS.build({**s, 'begin': s.begin // 1000, 'end': s.end // 1000},
                                         default_args=dict(optimizer=wrapper))
                  for s in cfg.param_scheduler]
    lrs = []
    for _ in range(600):
        lrs.append(wrapper.get_lr()['lr'][0])
        for s in schedulers:
            s.step()
    want = [1e-6 + (1e-3 - 1e-6) * t / 9 for t in range(10)]
    want += [1e-3 * (1 - (t - 10) / 589) for t in range(10, 600)]
    assert lrs == pytest.approx(want, rel=1e-6, abs=1e-12)


def decoder_block_parameters(text) -> int:
    return sum(p.numel() for m in text.modules() if isinstance(m, (Block, CrossAttentionBlock))
               for p in m.parameters())


@pytest.mark.parametrize('name,vision,decoder_blocks', [
    ('mammut_b16_web', (768, 12, 16), 57e6), ('mammut_b16-dec128m_web_4k', (768, 12, 16), 128e6),
    ('mammut_l14_web', (1024, 24, 14), 128e6), ('mammut_h14_web', (1280, 32, 14), 454e6)])
def test_model_shapes(name, vision, decoder_blocks):
    cfg = Config.fromfile(PRETRAIN / f'{name}.py')
    with torch.device('meta'):
        model = MODELS.build(cfg.model)
    assert (model.visual.width, len(model.visual.blocks), model.visual.patch_size) == vision
    assert model.visual.grid == (224 // vision[2], 224 // vision[2])
    # decoder blocks: 12 width^2 weights each (attention 4, MLP 8), self- and cross-attention
    assert decoder_block_parameters(model.text) == pytest.approx(decoder_blocks, rel=0.01)
    assert model.text.positional_embedding.shape[0] == 64


def test_train_pipeline_resizes_to_272_and_crops_224():
    cfg = Config.fromfile(PRETRAIN / 'mammut_b16_web.py')
    pipeline = Compose(list(cfg.train_dataloader.dataset.pipeline[:2]))
    rng = np.random.default_rng(0)
    out = pipeline(dict(img=rng.integers(0, 255, (300, 500, 3), dtype=np.uint8)))
    assert out['img'].shape == (224, 224, 3)
    assert out['scale'] == (272, 272)


@pytest.mark.slow
def test_b16_config_trains_from_shards_with_accumulation(tmp_path):
    """The B/16 web config, its blocks cut to 1 + 2, two steps of global batch 4 (2 passes of
    2), from shards packed from the toy captions, through tools/train.py."""
    data = tmp_path / 'data'
    make_toy_captions(str(data), num_train=16, num_val=2, size=64, seed=1)
    load_make_shards().main([str(data / 'train.jsonl'), str(data / 'shards'),
                             '--shard-size', '8'])
    res = run_tool([sys.executable, 'tools/train.py', str(PRETRAIN / 'mammut_b16_web.py'),
                    '--work-dir', str(tmp_path / 'work'), '--cfg-options',
                    f'train_dataloader.dataset.shards={data}/shards/{{00000..00001}}.tar',
                    'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
                    'train_dataloader.persistent_workers=False',
                    'train_cfg.global_batch_size=4', 'train_cfg.max_iters=2',
                    'model.vision.depth=1', 'model.text.depth=2',
                    'default_hooks.logger.interval=1', 'default_hooks.checkpoint.interval=2'])
    log = res.stdout + res.stderr
    assert 'global batch 4 = 1 processes x batch 2 x 2 accumulated passes per step' in log
    assert 'Iter(train) [2/2]' in log and (tmp_path / 'work' / 'iter_2.pth').exists()
    ckpt = torch.load(tmp_path / 'work' / 'iter_2.pth', map_location='cpu')
    assert ckpt['state_dict']['text.positional_embedding'].shape == (64, 512)
