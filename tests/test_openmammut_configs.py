"""The openMaMMUT task presets (video, detection) carry the checkpoint's exact shapes and legacy
switches from one place, configs/openmammut/_base_/openmammut_l14_parts.py."""
from __future__ import annotations

from pathlib import Path

import pytest
from mmengine.config import Config

import mammut_det  # noqa: F401

ROOT = Path(__file__).resolve().parents[1] / 'configs' / 'openmammut'
PARTS = Config.fromfile(ROOT / '_base_' / 'openmammut_l14_parts.py')


def _subset(cfg: dict, ref: dict, skip=('type',)) -> None:
    for key, value in ref.items():
        if key not in skip:
            assert cfg[key] == value, f'{key}: {cfg[key]!r} != {value!r}'


def test_model_preset_uses_the_parts():
    cfg = Config.fromfile(ROOT / 'openmammut_l14.py')
    assert cfg.model.vision == PARTS.om_vision and cfg.model.text == PARTS.om_text
    assert cfg.model.tokenizer == PARTS.om_tokenizer


def test_video_zero_shot_preset():
    cfg = Config.fromfile(ROOT / 'openmammut_l14_tube_k400_zeroshot.py')
    _subset(cfg.model.backbone, PARTS.om_vision)
    assert cfg.model.backbone.type == 'MaMMUTTubeViT'
    assert cfg.model.backbone.pretrained == cfg.model.cls_head.embedder.checkpoint
    assert cfg.model.cls_head.embedder.text == PARTS.om_text
    assert cfg.model.cls_head.embedder.tokenizer == PARTS.om_tokenizer
    assert cfg.model.cls_head.in_channels == PARTS.om_vision.embed_dim
    assert cfg.model.data_preprocessor.mean == PARTS.om_data_preprocessor.mean


@pytest.mark.parametrize('name', ['openmammut_l14_ovd_lvis-v1-base_1024.py'])
def test_detection_preset(name):
    cfg = Config.fromfile(ROOT / name)
    _subset(cfg.model.backbone, PARTS.om_vision)
    assert cfg.model.class_embedder.text == PARTS.om_text
    assert cfg.model.class_embedder.tokenizer == PARTS.om_tokenizer
    ckpts = {cfg.model.backbone.init_cfg.checkpoint, cfg.model.class_embedder.init_cfg.checkpoint}
    assert ckpts == {'checkpoints/openmammut_l14.pth'}
    assert cfg.model.data_preprocessor.mean == PARTS.om_data_preprocessor.mean
