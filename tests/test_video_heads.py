"""Recognizer3D with the tube backbone: open-vocabulary (zero-shot) head, linear head, configs."""
from __future__ import annotations

import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmaction.structures import ActionDataSample
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope

from mammut_det.video import MaMMUTTubeViT, OpenVocabClsHead

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
NAMES = ['a red circle', 'a blue square', 'a green triangle']


@pytest.fixture
def mammut_ckpt(tiny_cfg, tmp_path):
    mammut = MODELS.build(tiny_cfg).eval()
    path = str(tmp_path / 'mammut.pth')
    torch.save({'state_dict': mammut.state_dict()}, path)
    return mammut, path


def build_recognizer(tiny_cfg, path: str, class_names=NAMES):
    vision = {k: v for k, v in tiny_cfg['vision'].items() if k != 'type'}
    cfg = dict(
        type='Recognizer3D',
        backbone=dict(type='MaMMUTTubeViT', clip_len=8, tubes=(), pretrained=path, **vision),
        cls_head=dict(type='OpenVocabClsHead', in_channels=vision['embed_dim'],
                      class_names=class_names, average_clips='prob',
                      embedder=dict(text=tiny_cfg['text'], tokenizer=tiny_cfg['tokenizer'],
                                    checkpoint=path, templates=['{}.', 'a video of {}.'])),
        data_preprocessor=dict(type='ActionDataPreprocessor', mean=[127.5] * 3, std=[64.0] * 3,
                               format_shape='NCTHW'))
    with DefaultScope.overwrite_default_scope('mmaction'):
        return MODELS.build(cfg).eval()


def test_zero_shot_on_a_static_clip_matches_the_image_model(tiny_cfg, mammut_ckpt):
    mammut, path = mammut_ckpt
    model = build_recognizer(tiny_cfg, path)
    head = model.cls_head
    assert isinstance(head, OpenVocabClsHead) and isinstance(model.backbone, MaMMUTTubeViT)
    image = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    clips = image[:, None, :, None].expand(-1, -1, -1, 8, -1, -1)  # [N, 1 view, C, T, H, W]
    samples = [ActionDataSample().set_gt_label(i) for i in range(2)]
    with torch.no_grad():
        preds = model.test_step(dict(inputs=list(clips), data_samples=samples))
        # the image model's zero-shot scores: its image embedding against prompt-mean text
        # embeddings from MaMMUT's own contrastive pass
        x = (image.float() - 127.5) / 64.0
        img_emb = mammut.encode_image(x)
        text = torch.stack([F.normalize(mammut.encode_text([f'{n}.', f'a video of {n}.']).mean(0),
                                        dim=0) for n in NAMES])
        expected = (head.logit_scale.exp() * img_emb @ text.t()).softmax(dim=-1)
    scores = torch.stack([p.pred_score for p in preds])
    assert scores.shape == (2, 3)
    assert torch.allclose(scores, expected, atol=1e-4)

    # any vocabulary: swap the names, the scores range over the new ones
    head.set_class_names(['a purple cross', 'two yellow stars'])
    with torch.no_grad():
        preds = model.test_step(dict(inputs=list(clips), data_samples=samples))
    assert preds[0].pred_score.shape == (2,)
    assert head.num_classes == 2 and head.class_embeddings.shape == (2, 24)


def test_open_vocab_head_trains_and_keeps_text_weights_out(tiny_cfg, mammut_ckpt):
    _, path = mammut_ckpt
    model = build_recognizer(tiny_cfg, path).train()
    state = model.state_dict()
    assert not any('text' in k or 'embedder' in k for k in state)
    assert 'cls_head.logit_scale' in state and 'cls_head.class_embeddings' not in state
    assert all(not n.startswith('cls_head.embedder') for n, _ in model.named_parameters())
    clips = torch.randint(0, 256, (3, 1, 3, 8, 32, 32), dtype=torch.uint8)
    samples = [ActionDataSample().set_gt_label(i % 3) for i in range(3)]
    data = model.data_preprocessor(dict(inputs=list(clips), data_samples=samples), True)
    losses = model(**data, mode='loss')
    assert torch.isfinite(losses['loss_cls'])
    losses['loss_cls'].backward()
    assert model.cls_head.logit_scale.grad is not None
    assert model.backbone.blocks[0].attn.in_proj_weight.grad.abs().sum() > 0


def test_head_rejects_mismatched_embedding_size(tiny_cfg, mammut_ckpt):
    _, path = mammut_ckpt
    with pytest.raises(ValueError, match=r'expects \[3, 16\]'):
        OpenVocabClsHead(in_channels=16, class_names=NAMES,
                         embedder=dict(text=tiny_cfg['text'], tokenizer=tiny_cfg['tokenizer'],
                                       checkpoint=path))


def test_b16_kinetics_configs_build():
    cfg = Config.fromfile(osp.join(ROOT, 'configs/video/tube_mammut_b16_k400.py'))
    assert cfg.default_scope == 'mmaction'
    assert 'mammut_det.video' in cfg.custom_imports.imports
    with DefaultScope.overwrite_default_scope('mmaction'):
        model = MODELS.build(cfg.model)
    backbone = model.backbone
    assert isinstance(backbone, MaMMUTTubeViT)
    assert (backbone.width, len(backbone.blocks), backbone.patch_size) == (768, 12, 16)
    assert backbone.num_tokens((32, 224, 224))['total'] == 931
    assert model.cls_head.num_classes == 400 and model.cls_head.in_channels == 512
    assert cfg.train_dataloader.dataset.type == 'CheckedVideoDataset'

    frames = Config.fromfile(osp.join(ROOT, 'configs/video/frames_mammut_b16_k400.py'))
    assert frames.model.backbone.use_tubes is False
    zero = Config.fromfile(osp.join(ROOT, 'configs/video/tube_mammut_b16_k400_zeroshot.py'))
    head = zero.model.cls_head
    assert head.type == 'OpenVocabClsHead' and 'num_classes' not in head
    assert head.embedder.text.embed_dim == head.in_channels == cfg.model.backbone.embed_dim
    assert head.embedder.checkpoint == zero.model.backbone.pretrained
