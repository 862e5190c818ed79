"""Detection modules: window attention, checkpoint loading, pyramid, layer decay, class
embeddings and their cache, vocabulary swaps, the VLM score and base/novel handling."""
import copy
import inspect
import json
import logging
import os

import pytest
import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

import mammut_det  # noqa: F401
from mammut_det.detection import (
    TOY_LVIS_CLASSES,
    LayerDecayOptimWrapperConstructor,
    MaMMUTViTBackbone,
    SimpleFeaturePyramid,
    TextClassEmbedder,
    fuse_scores,
    window_partition,
    window_unpartition,
)
from mammut_det.detection.ov_bbox_head import UNSEEN_LOGIT, keep_top_candidates
from mammut_det.detection.vocabulary import DEFAULT_TEMPLATES, prompt_name
from mammut_det.models import MaMMUT, MaMMUTViT
from mammut_det.text import BPETokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, 'configs/detection/mammut-tiny_ovd_toy-lvis.py')
BASE = ('red_square', 'green_circle', 'blue_triangle', 'yellow_square')
VIT = dict(img_size=64, patch_size=8, width=32, depth=2, num_heads=2, embed_dim=16)


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope='module')
def cfg(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('tok') / 'tokenizer.json')
    texts = [t.format(prompt_name(n)) for n in TOY_LVIS_CLASSES for t in DEFAULT_TEMPLATES]
    BPETokenizer.train(texts, vocab_size=320, save_path=path)
    cfg = Config.fromfile(CONFIG)
    cfg.model.class_embedder.tokenizer.path = path
    cfg.model.class_embedder.cache_dir = None
    init_default_scope('mmdet')
    return cfg


@pytest.fixture(scope='module')
def detector(cfg):
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.eval()


def _samples(n, size=128):
    meta = dict(img_shape=(size, size), ori_shape=(size, size), scale_factor=(1.0, 1.0),
                batch_input_shape=(size, size), pad_shape=(size, size))
    return [DetDataSample(metainfo=dict(meta, img_id=i)) for i in range(n)]


def _predict(detector, images):
    with torch.no_grad():
        return detector(images, _samples(images.shape[0], images.shape[-1]), mode='predict')


def test_window_partition_round_trip():
    x = torch.randn(2, 5, 7, 3)
    windows, padded = window_partition(x, 3)
    assert windows.shape == (2 * 2 * 3, 9, 3) and padded == (6, 9)
    assert torch.equal(window_unpartition(windows, 3, padded, (5, 7)), x)


def test_window_attention_equals_global_when_window_covers_map():
    torch.manual_seed(0)
    vit = MaMMUTViT(**VIT)
    images = torch.randn(2, 3, 40, 56)  # 5 x 7 grid
    outs = {}
    for window in (0, 7, 9, 3):
        bb = MaMMUTViTBackbone(window_size=window, global_attn_indexes=[], **VIT)
        bb.load_state_dict(vit.state_dict())
        outs[window] = bb(images)[0]
    assert outs[0].shape == (2, 32, 5, 7)
    # one padded (masked) window over the whole map is global attention
    torch.testing.assert_close(outs[7], outs[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(outs[9], outs[0], atol=1e-5, rtol=1e-5)
    assert (outs[3] - outs[0]).abs().max() > 1e-2
    # global attention on the pretraining grid is the pretraining encoder
    square = torch.randn(2, 3, 64, 64)
    tokens = vit.forward_tokens(square)
    bb = MaMMUTViTBackbone(window_size=0, **VIT)
    bb.load_state_dict(vit.state_dict())
    torch.testing.assert_close(bb(square)[0].flatten(2).transpose(1, 2), tokens)


def test_class_token_is_kept_out_of_the_map():
    bb = MaMMUTViTBackbone(class_token=True, window_size=3, global_attn_indexes=[1], **VIT)
    assert bb.positional_embedding.shape == (8 * 8 + 1, 32)
    assert bb(torch.randn(1, 3, 48, 80))[0].shape == (1, 32, 6, 10)
    frozen = {n for n, p in bb.named_parameters() if not p.requires_grad}
    assert frozen == {'class_embedding', 'proj', 'ln_post.weight', 'ln_post.bias'}
    bb = MaMMUTViTBackbone(frozen_stages=1, **VIT)
    trainable = {n.split('.')[0] + ('.' + n.split('.')[1] if n.startswith('blocks') else '')
                 for n, p in bb.named_parameters() if p.requires_grad}
    assert trainable == {'blocks.1'}


def test_loading_a_mammut_checkpoint_non_strictly_reports_keys(cfg, tmp_path):
    base = Config.fromfile(os.path.join(ROOT, 'configs/_base_/models/mammut_tiny.py')).model
    torch.manual_seed(1)
    mammut = MaMMUT(vision=base.vision, text=base.text,
                    tokenizer=cfg.model.class_embedder.tokenizer)
    state = mammut.state_dict()
    del state['visual.blocks.1.mlp.c_fc.bias']
    state['visual.extra_head.weight'] = torch.zeros(3)
    ckpt = str(tmp_path / 'mammut.pth')
    torch.save(dict(state_dict=state), ckpt)

    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        vision = {k: v for k, v in base.vision.items() if k != 'type'}
        bb = MaMMUTViTBackbone(**dict(vision, img_size=32),
                               init_cfg=dict(type='Pretrained', checkpoint=ckpt,
                                             prefix='visual.', strict=False))
        bb.init_weights()
        embedder = TextClassEmbedder(text=base.text, tokenizer=cfg.model.class_embedder.tokenizer,
                                     checkpoint=ckpt)
    finally:
        logger.removeHandler(handler)
    msgs = [r.getMessage() for r in records]
    report = next(m for m in msgs if m.startswith('MaMMUTViTBackbone: loaded'))
    assert 'missing keys, left at their initialisation (1): blocks.1.mlp.c_fc.bias' in report
    assert 'unexpected checkpoint keys, not loaded (1): extra_head.weight' in report
    assert 'resampled to the model grid: positional_embedding' in report
    assert any(r.levelno == logging.WARNING and 'MaMMUTViTBackbone' in r.getMessage()
               for r in records)
    assert torch.equal(bb.conv1.weight, mammut.visual.conv1.weight)
    assert bb.positional_embedding.shape == (16, 64)  # 8x8 pretraining grid -> 4x4
    # the decoder loads strictly: its generative-only tensors are skipped by design
    text = next(r for r in records if r.getMessage().startswith('TextClassEmbedder: loaded'))
    n_generative = sum(k.startswith(('text.cross_attn.', 'text.lm_head.')) for k in state)
    assert text.levelno == logging.INFO and n_generative > 0
    assert f'not used by this model, skipped ({n_generative})' in text.getMessage()
    # the class embeddings are the pretraining model's text embeddings, averaged over templates
    names = ['red_square', 'white_circle']
    expected = []
    with torch.no_grad():
        for n in names:
            per = mammut.encode_text([t.format(prompt_name(n)) for t in DEFAULT_TEMPLATES])
            expected.append(F.normalize(per.mean(0), dim=-1))
    torch.testing.assert_close(embedder(names), torch.stack(expected), atol=1e-5, rtol=1e-5)


def test_a_checkpoint_that_does_not_fit_is_an_error_naming_the_keys(cfg, tmp_path):
    """A checkpoint of another size (here width 32 for a width-64 config, as B/16 for L/14) or
    with other key names raises, naming the keys, unless init_cfg says strict=False."""
    base = Config.fromfile(os.path.join(ROOT, 'configs/_base_/models/mammut_tiny.py')).model
    tokenizer = cfg.model.class_embedder.tokenizer
    # renamed keys: missing and unexpected ones are named
    mammut = MaMMUT(vision=base.vision, text=base.text, tokenizer=tokenizer)
    state = mammut.state_dict()
    state['text.ln_last.weight'] = state.pop('text.ln_final.weight')
    state['visual.head.weight'] = state.pop('visual.proj')
    renamed = str(tmp_path / 'renamed.pth')
    torch.save(dict(state_dict=state), renamed)
    vision = {k: v for k, v in base.vision.items() if k != 'type'}
    pretrained = dict(type='Pretrained', checkpoint=renamed, prefix='visual.')
    bb = MaMMUTViTBackbone(**vision, init_cfg=pretrained)
    with pytest.raises(ValueError, match=r'(?s)missing keys.*: proj\n.*unexpected.*: head.weight'):
        bb.init_weights()
    with pytest.raises(ValueError, match=r'(?s)missing.*: ln_final.weight\n.*: ln_last.weight'):
        TextClassEmbedder(text=base.text, tokenizer=tokenizer, checkpoint=renamed)
    # another size
    small = MaMMUT(vision=dict(base.vision, width=32), text=dict(base.text, width=32),
                   tokenizer=tokenizer)
    wrong_size = str(tmp_path / 'small.pth')
    torch.save(dict(state_dict=small.state_dict()), wrong_size)
    pretrained = dict(pretrained, checkpoint=wrong_size)
    bb = MaMMUTViTBackbone(**vision, init_cfg=pretrained)
    with pytest.raises(ValueError, match=r'(?s)small.pth.*visual.conv1.weight has shape '
                                         r'\(32, 3, 8, 8\) but the model expects \(64, 3, 8, 8\)'):
        bb.init_weights()
    embedder = TextClassEmbedder(text=base.text, tokenizer=tokenizer,
                                 init_cfg=dict(pretrained, prefix='text.'))
    with pytest.raises(ValueError, match=r'text.token_embedding.weight has shape \(512, 32\)'):
        embedder.init_weights()

    # opting out loads what fits
    bb = MaMMUTViTBackbone(**vision, init_cfg=dict(pretrained, checkpoint=renamed,
                                                   strict=False))
    bb.init_weights()
    assert torch.equal(bb.blocks[1].mlp.c_fc.weight, mammut.visual.blocks[1].mlp.c_fc.weight)
    embedder = TextClassEmbedder(text=base.text, tokenizer=tokenizer,
                                 init_cfg=dict(type='Pretrained', checkpoint=renamed,
                                               prefix='text.', strict=False))
    embedder.init_weights()
    assert torch.equal(embedder.text.ln_final.bias, mammut.text.ln_final.bias)


def test_simple_feature_pyramid_strides():
    fpn = SimpleFeaturePyramid(in_channels=32, out_channels=16)
    outs = fpn((torch.randn(2, 32, 8, 12),))
    assert [tuple(o.shape[-2:]) for o in outs] == [(32, 48), (16, 24), (8, 12), (4, 6), (2, 3)]
    assert all(o.shape[1] == 16 for o in outs)


def test_layer_wise_lr_decay(detector):
    ctor = LayerDecayOptimWrapperConstructor(
        dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.1)),
        dict(layer_decay_rate=0.5, norm_decay_mult=0.0))
    optim = ctor(detector).optimizer
    names = {id(p): n for n, p in detector.named_parameters()}
    lr = {names[id(g['params'][0])]: g for g in optim.param_groups}
    assert lr['backbone.conv1.weight']['lr'] == pytest.approx(1e-3 * 0.5 ** 3)
    assert lr['backbone.blocks.0.attn.in_proj_weight']['lr'] == pytest.approx(1e-3 * 0.5 ** 2)
    assert lr['backbone.blocks.1.mlp.c_fc.weight']['lr'] == pytest.approx(1e-3 * 0.5)
    assert lr['neck.output_convs.0.0.conv.weight']['lr'] == pytest.approx(1e-3)
    assert lr['backbone.blocks.1.ln_1.weight']['weight_decay'] == 0.0


def test_class_embeddings_cache_and_independence_from_images(cfg, detector, tmp_path):
    embedder = detector.class_embedder
    assert list(inspect.signature(embedder.forward).parameters) == ['class_names']
    names = TOY_LVIS_CLASSES
    emb = embedder(names)
    assert emb.shape == (6, 64)
    torch.testing.assert_close(emb.norm(dim=-1), torch.ones(6))
    # the pad-trimmed passes equal full-length ones
    with torch.no_grad():
        tokens = embedder.tokenizer([t.format(prompt_name(n)) for n in names
                                     for t in embedder.templates])
        full = F.normalize(embedder.text.encode(tokens, embedder.tokenizer.real_mask(tokens)),
                           dim=-1).view(6, len(DEFAULT_TEMPLATES), -1)
    torch.testing.assert_close(emb, F.normalize(full.mean(1), dim=-1), atol=1e-5, rtol=1e-5)
    # predictions on any images leave the embeddings untouched
    detector.set_vocabulary(names)
    before = detector.class_embeddings.clone()
    torch.manual_seed(2)
    _predict(detector, torch.rand(2, 3, 128, 128) * 255)
    _predict(detector, torch.zeros(1, 3, 128, 128))
    assert torch.equal(detector.class_embeddings, before) and torch.equal(before, emb)
    # memory cache: no text pass for a known vocabulary
    passes = embedder.num_text_passes
    embedder(names)
    assert embedder.num_text_passes == passes
    # disk cache: a fresh embedder with the same weights runs no text pass
    build = dict(type='TextClassEmbedder', text=cfg.model.class_embedder.text,
                 tokenizer=cfg.model.class_embedder.tokenizer, cache_dir=str(tmp_path))
    first = MODELS.build(copy.deepcopy(build))
    first.load_state_dict(embedder.state_dict())
    torch.testing.assert_close(first(names), emb)
    assert first.num_text_passes == 1 and len(os.listdir(tmp_path)) == 1
    second = MODELS.build(copy.deepcopy(build))
    second.load_state_dict(embedder.state_dict())
    torch.testing.assert_close(second(names), emb)
    assert second.num_text_passes == 0
    # other weights -> another key -> computed again
    with torch.no_grad():
        second.text.ln_final.bias.add_(0.1)
    second.reset_cache()
    assert not torch.allclose(second(names), emb)
    assert second.num_text_passes == 1 and len(os.listdir(tmp_path)) == 2


def test_swapping_the_vocabulary_relabels_without_rebuilding(detector):
    torch.manual_seed(3)
    images = torch.rand(2, 3, 128, 128) * 255
    modules = [id(m) for m in detector.modules()]
    detector.set_vocabulary(TOY_LVIS_CLASSES, seen_classes=BASE)
    first = _predict(detector, images)
    reverse = TOY_LVIS_CLASSES[::-1]
    detector.set_vocabulary(reverse)
    assert detector.dataset_meta['classes'] == reverse
    swapped = _predict(detector, images)
    names = set()
    for a, b in zip(first, swapped):
        pa, pb = a.pred_instances, b.pred_instances
        assert len(pa) == len(pb) == 100
        torch.testing.assert_close(pb.scores, pa.scores)
        torch.testing.assert_close(pb.bboxes, pa.bboxes)
        names |= {TOY_LVIS_CLASSES[i] for i in pa.labels}
        assert [reverse[i] for i in pb.labels] == [TOY_LVIS_CLASSES[i] for i in pa.labels]
    assert len(names) >= 3
    detector.set_vocabulary('green_circle,purple_triangle')
    assert detector.roi_head.bbox_head.num_classes == 2
    sub = _predict(detector, images)
    assert int(sub[0].pred_instances.labels.max()) <= 1
    assert [id(m) for m in detector.modules()] == modules
    passes = detector.class_embedder.num_text_passes
    detector.set_vocabulary(TOY_LVIS_CLASSES)
    assert detector.class_embedder.num_text_passes == passes


def test_vlm_region_embedding_is_the_pretraining_image_feature(cfg):
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.vlm_score.roi_size = 8
    detector = MODELS.build(model_cfg).eval()
    detector.backbone.window_size = 0
    vit = MaMMUTViT(**{k: v for k, v in cfg.model.backbone.items()
                       if k in inspect.signature(MaMMUTViT).parameters})
    vit.load_state_dict(detector.backbone.state_dict())
    images = torch.randn(2, 3, 64, 64)  # the pretraining grid, 8 x 8
    rois = torch.tensor([[0, 0, 0, 64, 64], [1, 0, 0, 64, 64]], dtype=torch.float32)
    with torch.no_grad():
        region = detector.vlm_region_embeddings(detector.backbone(images)[0], rois)
        expected = F.normalize(vit(images)[0], dim=-1)
    torch.testing.assert_close(region, expected, atol=1e-5, rtol=1e-5)


@pytest.fixture(scope='module')
def pretrained(cfg, tmp_path_factory):
    """A tiny MaMMUT pretraining checkpoint that fits the toy detector: (model, path)."""
    base = Config.fromfile(os.path.join(ROOT, 'configs/_base_/models/mammut_tiny.py')).model
    torch.manual_seed(5)
    mammut = MaMMUT(vision=base.vision, text=base.text,
                    tokenizer=cfg.model.class_embedder.tokenizer)
    path = str(tmp_path_factory.mktemp('pretrained') / 'mammut.pth')
    torch.save(dict(state_dict=mammut.state_dict()), path)
    return mammut, path


def _detector_from(cfg, checkpoint: str, **vlm_score) -> Config:
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.backbone.init_cfg = dict(type='Pretrained', checkpoint=checkpoint, prefix='visual.')
    model_cfg.class_embedder.init_cfg = dict(type='Pretrained', checkpoint=checkpoint,
                                             prefix='text.')
    model_cfg.vlm_score.update(vlm_score)
    return model_cfg


def _optimized(model) -> set[int]:
    ctor = LayerDecayOptimWrapperConstructor(dict(optimizer=dict(type='AdamW', lr=1e-2)),
                                             dict(layer_decay_rate=0.7))
    return {id(p) for g in ctor(model).optimizer.param_groups for p in g['params']}


def test_vlm_score_from_a_frozen_copy_of_the_pretrained_tower(cfg, pretrained):
    mammut, ckpt = pretrained
    torch.manual_seed(0)
    det = MODELS.build(_detector_from(cfg, ckpt, source='pretrained'))
    det.init_weights()
    det.set_vocabulary(TOY_LVIS_CLASSES, seen_classes=BASE)
    tower = det.vlm_backbone
    for key, value in mammut.visual.state_dict().items():
        assert torch.equal(tower.state_dict()[key], value), key
    assert not any(p.requires_grad for p in tower.parameters())
    assert not _optimized(det) & {id(p) for p in tower.parameters()}

    torch.manual_seed(6)
    images = torch.rand(2, 3, 128, 128) * 255
    det_cfg = _detector_from(cfg, ckpt)  # the backbone's map
    on_backbone = MODELS.build(det_cfg).eval()
    on_backbone.load_state_dict(det.state_dict())
    on_backbone.set_vocabulary(TOY_LVIS_CLASSES)
    with torch.no_grad():  # before fine-tuning the two sources agree
        untrained = det.eval()(images, _samples(2), mode='predict')
        same = on_backbone(images, _samples(2), mode='predict')
    for a, b in zip(untrained, same):
        assert len(a.pred_instances) == 100
        torch.testing.assert_close(a.pred_instances.scores, b.pred_instances.scores)

    # fine-tuning moves the backbone, never the tower, which stays in eval mode
    det.train()
    assert det.backbone.training and not tower.training
    optim = torch.optim.AdamW([p for p in det.parameters() if p.requires_grad], lr=1e-3)
    samples = _samples(2)
    for i, sample in enumerate(samples):
        sample.gt_instances = InstanceData(bboxes=torch.tensor([[8.0, 8, 70, 60]]),
                                           labels=torch.tensor([i]))
    losses = det(images, samples, mode='loss')
    det.parse_losses(losses)[0].backward()
    optim.step()
    assert all(p.grad is None for p in tower.parameters())
    for key, value in mammut.visual.state_dict().items():
        assert torch.equal(tower.state_dict()[key], value), key
    assert not torch.equal(det.backbone.conv1.weight, mammut.visual.conv1.weight)

    # the VLM map is the pretrained tower's; the fine-tuned backbone's is another
    det.eval()
    reference = MODELS.build(copy.deepcopy(det_cfg.backbone))
    reference.init_weights()
    with torch.no_grad():
        backbone_map = det.backbone(images)[0]
        vlm_map = det.vlm_map(images, backbone_map)
        torch.testing.assert_close(vlm_map, reference(images)[0])
        assert not torch.allclose(vlm_map, backbone_map, atol=1e-3)

    # the checkpoint holds the tower: a fresh detector tests from it alone
    state = det.state_dict()
    assert any(k.startswith('vlm_backbone.') for k in state)
    fresh = MODELS.build(_detector_from(cfg, ckpt, source='pretrained')).eval()
    fresh.load_state_dict(state)
    # ... and with the fine-tuned backbone's map too (the tower is dropped)
    on_backbone = MODELS.build(det_cfg).eval()
    on_backbone.load_state_dict(state)
    assert on_backbone.vlm_backbone is None
    assert not any(k.startswith('vlm_backbone.') for k in on_backbone.drop_unused_tower(
        dict(state))) and any(k.startswith('vlm_backbone.') for k in state)
    with torch.no_grad():
        torch.testing.assert_close(fresh.vlm_map(images, backbone_map), vlm_map)
        tuned_map = on_backbone.backbone(images)[0]
        torch.testing.assert_close(tuned_map, backbone_map)
        assert on_backbone.vlm_map(images, tuned_map) is tuned_map
    # a checkpoint without the tower cannot fill a model that needs it
    with pytest.raises(ValueError, match=r'lacks.*source=.backbone'):
        fresh.load_state_dict(on_backbone.state_dict())


def test_frozen_backbone_is_its_own_vlm_tower(cfg, pretrained):
    """F-VLM: backbone frozen in every block; then the 'pretrained' source is the backbone."""
    model_cfg = _detector_from(cfg, pretrained[1], source='pretrained')
    model_cfg.backbone.frozen_stages = len(pretrained[0].visual.blocks)
    det = MODELS.build(model_cfg)
    det.init_weights()
    assert det.vlm_backbone is None and det.vlm_tower is det.backbone
    assert not any(k.startswith('vlm_backbone.') for k in det.state_dict())
    assert not _optimized(det) & {id(p) for p in det.backbone.parameters()}
    images = torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        backbone_map = det.backbone(images)[0]
    assert det.vlm_map(images, backbone_map) is backbone_map
    with pytest.raises(ValueError, match='vlm_score.source must be one of'):
        MODELS.build(_detector_from(cfg, pretrained[1], source='frozen'))


def test_fusion_weights_and_seen_classes(cfg, detector):
    det = torch.tensor([[0.5, 0.2, 0.3]])
    vlm = torch.tensor([[0.8, 0.2]])
    fused = fuse_scores(det, vlm, torch.tensor([0.35, 0.65]))
    expected = [0.5 ** 0.65 * 0.8 ** 0.35, 0.2 ** 0.35 * 0.2 ** 0.65, 0.3]
    torch.testing.assert_close(fused, torch.tensor([expected]))
    scores = torch.tensor([[0.5, 0.1, 0.4, 0.9], [0.3, 0.6, 0.2, 0.8]])
    kept = keep_top_candidates(scores, 3)
    assert torch.equal(kept, torch.tensor([[0.5, 0.0, 0.4, 0.9], [0.0, 0.6, 0.0, 0.8]]))
    assert keep_top_candidates(scores, 6) is scores

    detector.set_vocabulary(TOY_LVIS_CLASSES, seen_classes=BASE)
    assert detector.vlm_weights().tolist() == pytest.approx([0.35] * 4 + [0.65] * 2)
    head = detector.roi_head.bbox_head
    feats = torch.randn(3, 32, 7, 7)
    head.train()
    logits = head(feats)[0]
    assert (logits[:, 4:6] == UNSEEN_LOGIT).all() and (logits[:, :4] != UNSEEN_LOGIT).all()
    head.eval()
    assert (head(feats)[0] != UNSEEN_LOGIT).all()
    # a rare annotation in a training batch is an error naming the class
    sample = _samples(1)[0]
    sample.gt_instances = InstanceData(bboxes=torch.tensor([[0.0, 0, 9, 9]]),
                                       labels=torch.tensor([4]))
    with pytest.raises(ValueError, match="'white_circle'.*not among the seen"):
        detector._check_labels([sample])
    # the seen classes travel with the weights
    state = detector.state_dict()
    assert json.loads(bytes(state['_extra_state'].tolist())) == dict(seen_classes=list(BASE))
    other = MODELS.build(cfg.model)
    assert other.seen_classes is None
    other.load_state_dict(state)
    assert other.seen_classes == BASE
    other.dataset_meta = dict(classes=('yellow_square', 'zebra'))
    assert other.vlm_weights().tolist() == pytest.approx([0.35, 0.65])


def test_boxes_are_clipped_to_the_original_image_not_the_padding(detector):
    torch.manual_seed(4)
    images = torch.rand(1, 3, 128, 128) * 255
    whole = _predict(detector, images)[0].pred_instances
    assert (whole.bboxes[:, 2] > 70).any() and (whole.bboxes[:, 3] > 40).any()
    samples = _samples(1)
    samples[0].set_metainfo(dict(ori_shape=(40, 70)))  # a 70x40 image padded to 128x128
    with torch.no_grad():
        inst = detector(images, samples, mode='predict')[0].pred_instances
    assert len(inst) > 0
    assert float(inst.bboxes[:, 0::2].max()) <= 70 and float(inst.bboxes[:, 1::2].max()) <= 40
    assert bool(((inst.bboxes[:, 2:] - inst.bboxes[:, :2]) > 0).all())
