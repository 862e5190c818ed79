"""Registration: every module builds from plain, mmdet-scoped and mmaction-scoped configs, and
through ``custom_imports``; the model presets have the documented shapes."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize('scope', ['mmdet', 'mmaction'])
def test_modules_build_from_downstream_scopes(scope, tiny_cfg):
    import importlib
    registry = importlib.import_module(f'{scope}.registry')
    with DefaultScope.overwrite_default_scope(scope):
        model = registry.MODELS.build(tiny_cfg)
        hook = registry.HOOKS.build(dict(type='TwoPassScheduleHook'))
        metric = registry.METRICS.build(dict(type='RetrievalMetric'))
        dataset_cls = registry.DATASETS.get('CaptionDataset')
        pack = registry.TRANSFORMS.build(dict(type='PackCaptionInputs'))
    assert type(model).__name__ == 'MaMMUT'
    assert type(hook).__name__ == 'TwoPassScheduleHook'
    assert type(metric).__name__ == 'RetrievalMetric'
    assert dataset_cls.__name__ == 'CaptionDataset'
    assert type(pack).__name__ == 'PackCaptionInputs'


@pytest.mark.slow
def test_custom_imports_registers_everything(tmp_path, tokenizer_path):
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(
        "custom_imports = dict(imports=['mammut_det'], allow_failed_imports=False)\n"
        "default_scope = 'mmdet'\n"
        "model = dict(type='MaMMUT',\n"
        "  vision=dict(type='MaMMUTViT', img_size=32, patch_size=8, width=32, depth=1,\n"
        "              num_heads=2, embed_dim=16),\n"
        "  text=dict(type='TextDecoder', vocab_size=300, context_length=16, width=32,\n"
        "            depth=2, num_heads=2, embed_dim=16),\n"
        f"  tokenizer=dict(type='BPETokenizer', path={tokenizer_path!r}, context_length=16))\n")
    code = ('from mmengine.config import Config\n'
            'from mmengine.registry import MODELS, init_default_scope\n'
            'from mmengine.utils import import_modules_from_strings\n'
            f'cfg = Config.fromfile({str(cfg)!r})\n'
            'init_default_scope(cfg.default_scope)\n'
            'print(type(MODELS.build(cfg.model)).__name__)\n')
    res = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         timeout=300, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.strip().endswith('MaMMUT')


@pytest.mark.parametrize('preset,vis,txt', [
    ('mammut_b16', (16, 768, 12), (12, 512, 512)),
    ('mammut_l14', (14, 1024, 24), (12, 768, 768)),
    ('mammut_h14', (14, 1280, 32), (24, 1024, 1024)),
])
def test_presets_have_the_documented_shapes(preset, vis, txt, tokenizer_path):
    from mmengine.registry import MODELS
    cfg = Config.fromfile(ROOT / 'configs' / '_base_' / 'models' / f'{preset}.py')
    assert cfg.model.tokenizer.type == 'CLIPTokenizer'
    # the CLIP vocabulary file is not needed to check shapes: any 77-token tokenizer will do
    cfg.model.tokenizer = dict(type='BPETokenizer', path=tokenizer_path, context_length=77)
    with torch.device('meta'):
        model = MODELS.build(cfg.model)
    assert (model.visual.patch_size, model.visual.width, len(model.visual.blocks)) == vis
    text = model.text
    assert (len(text.resblocks), text.width, text.embed_dim) == txt
    assert len(text.cross_attn) == txt[0] // 2 and text.cross_attn_every == 2
    assert text.vocab_size == 49408 and text.context_length == 77
