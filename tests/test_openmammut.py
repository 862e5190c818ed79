"""openMaMMUT: key mapping, loaders, the legacy switches, the converter tool and the presets.

The fork-named state dicts are built here from the documented names and shapes (OPENMAMMUT.md)
with random values, and a plain-torch reference forward written from that document (on the fork
names, with ``F.multi_head_attention_forward`` as ``nn.MultiheadAttention`` does) checks that our
model with the legacy switches computes the same features and logits.
"""
import gzip
import importlib.util
import math
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import MODELS
from mmengine.runner import load_checkpoint

from mammut_det.models.openmammut import (
    convert_openmammut_state_dict,
    load_openmammut,
    load_openmammut_checkpoint,
    to_openmammut_state_dict,
)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PRESET = osp.join(ROOT, 'configs', 'openmammut', 'openmammut_l14.py')
MERGES = [('t', 'h'), ('th', 'e</w>'), ('c', 'a'), ('ca', 't</w>'), ('d', 'o'), ('do', 'g</w>'),
          ('o', 'f</w>'), ('a', 'n</w>')]
CTX = 16
VOCAB = 512 + len(MERGES) + 2
TINY = dict(img=32, patch=8, vw=32, vdepth=2, vheads=2, tw=24, tdepth=4, theads=2, vocab=VOCAB,
            ctx=CTX)
L14 = dict(img=224, patch=14, vw=1024, vdepth=24, vheads=16, tw=768, tdepth=12, theads=12,
           vocab=49408, ctx=77)
PROMPTS = ['a photo of the cat', 'the dog', 'a cat and a dog of the cat']


# ---- the documented layout --------------------------------------------------------------------
def block_shapes(prefix: str, c: int, cross: bool = False) -> dict[str, tuple]:
    shapes = {f'{prefix}.ln_1.weight': (c,), f'{prefix}.ln_1.bias': (c,),
              f'{prefix}.attn.in_proj_weight': (3 * c, c), f'{prefix}.attn.in_proj_bias': (3 * c,),
              f'{prefix}.attn.out_proj.weight': (c, c), f'{prefix}.attn.out_proj.bias': (c,),
              f'{prefix}.ln_2.weight': (c,), f'{prefix}.ln_2.bias': (c,),
              f'{prefix}.mlp.c_fc.weight': (4 * c, c), f'{prefix}.mlp.c_fc.bias': (4 * c,),
              f'{prefix}.mlp.c_proj.weight': (c, 4 * c), f'{prefix}.mlp.c_proj.bias': (c,)}
    if cross:
        shapes.update({f'{prefix}.ln_1_kv.weight': (c,), f'{prefix}.ln_1_kv.bias': (c,)})
    return shapes


def fork_shapes(d: dict) -> dict[str, tuple]:
    vw, tw, grid = d['vw'], d['tw'], d['img'] // d['patch']
    shapes = {'logit_scale': (), 'map_viz2txt_kv': (vw, tw),
              'visual.conv1.weight': (vw, 3, d['patch'], d['patch']),
              'visual.class_embedding': (vw,), 'visual.positional_embedding': (grid * grid + 1, vw),
              'visual.ln_pre.weight': (vw,), 'visual.ln_pre.bias': (vw,)}
    for i in range(d['vdepth']):
        shapes.update(block_shapes(f'visual.transformer.resblocks.{i}', vw))
    shapes.update({'visual.ln_post.weight': (vw,), 'visual.ln_post.bias': (vw,),
                   'visual.proj': (vw, tw), 'text.token_embedding.weight': (d['vocab'], tw),
                   'text.positional_embedding': (d['ctx'], tw)})
    for i in range(d['tdepth']):
        shapes.update(block_shapes(f'text.resblocks.{i}', tw))
    for j in range(d['tdepth'] // 2):
        shapes.update(block_shapes(f'text.cross_attn.{j}', tw, cross=True))
    shapes.update({'text.ln_final.weight': (tw,), 'text.ln_final.bias': (tw,),
                   'text.text_projection': (tw, d['vocab'])})
    return shapes


def fork_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for name, shape in fork_shapes(TINY).items():
        x = torch.randn(shape, generator=g)
        if name.endswith(('ln_1.weight', 'ln_2.weight', 'ln_1_kv.weight', 'ln_pre.weight',
                          'ln_post.weight', 'ln_final.weight')):
            x = 1.0 + 0.1 * x
        elif len(shape) >= 2:
            x = x / math.sqrt(shape[-1] if len(shape) == 2 else shape[1] * shape[2] * shape[3])
        else:
            x = 0.1 * x
        sd[name] = x
    sd['logit_scale'] = torch.tensor(math.log(1 / 0.07))
    return sd


# ---- a reference forward written from OPENMAMMUT.md ------------------------------------------
def ref_ln(x, sd, name):
    return F.layer_norm(x, x.shape[-1:], sd[f'{name}.weight'], sd[f'{name}.bias'], eps=1e-5)


def ref_block(x, sd, p, heads, mask=None, kv=None):
    """x: [L, B, C] (the fork's sequence-first layout)."""
    h = ref_ln(x, sd, f'{p}.ln_1')
    k = h if kv is None else ref_ln(kv, sd, f'{p}.ln_1_kv')
    a = F.multi_head_attention_forward(
        h, k, k, x.shape[-1], heads, sd[f'{p}.attn.in_proj_weight'],
        sd[f'{p}.attn.in_proj_bias'], None, None, False, 0.0, sd[f'{p}.attn.out_proj.weight'],
        sd[f'{p}.attn.out_proj.bias'], training=False, need_weights=False, attn_mask=mask)[0]
    x = x + a
    h = ref_ln(x, sd, f'{p}.ln_2')
    h = F.linear(F.gelu(F.linear(h, sd[f'{p}.mlp.c_fc.weight'], sd[f'{p}.mlp.c_fc.bias'])),
                 sd[f'{p}.mlp.c_proj.weight'], sd[f'{p}.mlp.c_proj.bias'])
    return x + h


def ref_image(sd, images):
    """-> pooled feature [B, E], block output tokens [B, 1 + N, Cv] (CLS first)."""
    x = F.conv2d(images, sd['visual.conv1.weight'], stride=TINY['patch'])
    x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
    cls = sd['visual.class_embedding'].expand(x.shape[0], 1, -1)
    x = torch.cat([cls, x], dim=1) + sd['visual.positional_embedding']
    x = ref_ln(x, sd, 'visual.ln_pre').permute(1, 0, 2)
    for i in range(TINY['vdepth']):
        x = ref_block(x, sd, f'visual.transformer.resblocks.{i}', TINY['vheads'])
    tokens = x.permute(1, 0, 2)
    return ref_ln(tokens.mean(dim=1), sd, 'visual.ln_post') @ sd['visual.proj'], tokens


def ref_embed(sd, text):
    x = sd['text.token_embedding.weight'][text] + sd['text.positional_embedding'][:text.shape[1]]
    return x.permute(1, 0, 2)


def ref_text(sd, text):
    x = ref_embed(sd, text)
    for i in range(TINY['tdepth']):
        x = ref_block(x, sd, f'text.resblocks.{i}', TINY['theads'])
    return ref_ln(x.permute(1, 0, 2), sd, 'text.ln_final').mean(dim=1)


def ref_caption_logits(sd, text, image_tokens):
    kv = (image_tokens @ sd['map_viz2txt_kv']).permute(1, 0, 2)
    x = ref_embed(sd, text)
    n = text.shape[1]
    causal = torch.full((n, n), float('-inf')).triu(1)
    for i in range(TINY['tdepth']):
        x = ref_block(x, sd, f'text.resblocks.{i}', TINY['theads'], mask=causal)
        if i % 2 == 0:
            x = ref_block(x, sd, f'text.cross_attn.{i // 2}', TINY['theads'], kv=kv)
    return ref_ln(x.permute(1, 0, 2), sd, 'text.ln_final') @ sd['text.text_projection']


# ---- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def files(tmp_path_factory):
    """A CLIP-format vocabulary and a tiny config that inherits the L/14 preset's switches."""
    root = tmp_path_factory.mktemp('openmammut')
    vocab = root / 'vocab.txt.gz'
    with gzip.open(vocab, 'wt', encoding='utf-8') as f:
        f.write('header\n' + ''.join(f'{a} {b}\n' for a, b in MERGES))
    config = root / 'tiny_openmammut.py'
    config.write_text(
        f'_base_ = [{PRESET!r}]\n'
        f'model = dict(\n'
        f'    vision=dict(img_size=32, patch_size=8, width=32, depth=2, num_heads=2,'
        f' embed_dim=24),\n'
        f'    text=dict(vocab_size={VOCAB}, context_length={CTX}, width=24, depth=4,'
        f' num_heads=2, embed_dim=24),\n'
        f'    tokenizer=dict(path={str(vocab)!r}, context_length={CTX}))\n')
    return dict(vocab=str(vocab), config=str(config), root=root)


@pytest.fixture
def legacy_cfg(files):
    return Config.fromfile(files['config']).model


@pytest.fixture
def legacy_model(legacy_cfg):
    model = MODELS.build(legacy_cfg).eval()
    model.load_state_dict(convert_openmammut_state_dict(fork_state_dict(), target=model))
    return model


# ---- key mapping ------------------------------------------------------------------------------
def test_every_key_maps_and_round_trips(legacy_model):
    fork = fork_state_dict()
    ours = convert_openmammut_state_dict(fork, target=legacy_model)
    assert set(ours) == set(legacy_model.state_dict()) and len(ours) == len(fork)
    torch.testing.assert_close(ours['map_image_tokens.weight'], fork['map_viz2txt_kv'].t())
    torch.testing.assert_close(ours['text.lm_head.weight'], fork['text.text_projection'].t())
    torch.testing.assert_close(ours['visual.blocks.1.mlp.c_fc.bias'],
                               fork['visual.transformer.resblocks.1.mlp.c_fc.bias'])
    back = to_openmammut_state_dict(legacy_model.state_dict(), target=fork)
    assert set(back) == set(fork)
    for k, v in fork.items():
        assert torch.equal(back[k], v), k


def test_unknown_missing_and_misshaped_keys_are_named(legacy_model):
    fork = fork_state_dict()
    with pytest.raises(ValueError, match=r"match no openMaMMUT rule: \['visual.extra_thing'\]"):
        convert_openmammut_state_dict({**fork, 'visual.extra_thing': torch.zeros(3)})
    bad = {**fork, 'visual.proj': torch.zeros(32, 25)}
    with pytest.raises(ValueError, match=r'visual.proj \(32, 25\) -> visual.proj \(32, 25\), '
                                         r'expected \(32, 24\)'):
        convert_openmammut_state_dict(bad, target=legacy_model)
    bad = {**fork, 'map_viz2txt_kv': torch.zeros(24, 32)}
    with pytest.raises(ValueError, match=r'map_viz2txt_kv \(24, 32\) -> map_image_tokens.weight'):
        convert_openmammut_state_dict(bad, target=legacy_model)
    missing = {k: v for k, v in fork.items() if k != 'text.cross_attn.1.ln_1_kv.bias'}
    with pytest.raises(ValueError, match=r"nothing maps to: \['text.cross_attn.1.ln_1_kv.bias'\]"):
        convert_openmammut_state_dict(missing, target=legacy_model)
    extra_layer = {**fork, 'text.resblocks.9.ln_1.bias': torch.zeros(24)}
    with pytest.raises(ValueError, match='text.resblocks.9.ln_1.bias -> text.resblocks.9'):
        convert_openmammut_state_dict(extra_layer, target=legacy_model)


def test_clean_model_has_no_fork_equivalent(files, legacy_cfg):
    cfg = legacy_cfg.copy()
    cfg.text.text_proj = True
    with pytest.raises(ValueError, match=r"\['text.text_proj.weight'\]"):
        to_openmammut_state_dict(MODELS.build(cfg).state_dict())


def test_loader_formats(tmp_path):
    from safetensors.torch import save_file
    fork = fork_state_dict()
    torch.save(fork, tmp_path / 'plain.bin')
    torch.save({'epoch': 3, 'name': 'run', 'state_dict': {f'module.{k}': v
                                                          for k, v in fork.items()}},
               tmp_path / 'ddp.pt')
    save_file(fork, str(tmp_path / 'model.safetensors'))
    for name in ('plain.bin', 'ddp.pt', 'model.safetensors'):
        loaded = load_openmammut_checkpoint(str(tmp_path / name))
        assert set(loaded) == set(fork), name
        assert all(torch.equal(loaded[k], fork[k]) for k in fork), name
    with pytest.raises(FileNotFoundError, match='nothing.bin'):
        load_openmammut_checkpoint(str(tmp_path / 'nothing.bin'))
    # weights_only=True: a pickle that would construct an arbitrary object is refused
    torch.save({'state_dict': fork, 'extra': Config(dict(a=1))}, tmp_path / 'unsafe.pt')
    with pytest.raises(Exception, match='[Ww]eights only load failed'):
        load_openmammut_checkpoint(str(tmp_path / 'unsafe.pt'))
    torch.save({'a': torch.zeros(1), 'b': 3}, tmp_path / 'mixed.pt')
    with pytest.raises(ValueError, match=r"not tensors: \['b'\]"):
        load_openmammut_checkpoint(str(tmp_path / 'mixed.pt'))


# ---- numerics against the reference -----------------------------------------------------------
def test_matches_reference_forward(legacy_model):
    fork = fork_state_dict()
    model = legacy_model
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    tokens = model.tokenize(PROMPTS)
    with torch.no_grad():
        feat, image_tokens = model.visual(images)
        ref_feat, ref_tokens = ref_image(fork, images)
        torch.testing.assert_close(feat, ref_feat, rtol=0, atol=1e-5)
        assert image_tokens.shape == (2, 17, 32)
        text = model.encode_text(tokens, normalize=False)
        torch.testing.assert_close(text, ref_text(fork, tokens), rtol=0, atol=1e-5)
        logits = model.text.generate_logits(tokens, model.image_kv(image_tokens[:1].expand(3, -1,
                                                                                            -1)))
        ref = ref_caption_logits(fork, tokens, ref_tokens[:1].expand(3, -1, -1))
        torch.testing.assert_close(logits, ref, rtol=0, atol=1e-4)
        sim = model.contrastive_logits(model.encode_image(images), model.encode_text(tokens))
        ref_sim = (fork['logit_scale'].exp() * F.normalize(ref_feat, dim=-1)
                   @ F.normalize(ref_text(fork, tokens), dim=-1).t())
        torch.testing.assert_close(sim, ref_sim, rtol=0, atol=1e-4)


def test_legacy_text_feature_is_over_the_whole_context(legacy_cfg):
    """openMaMMUT's mean over every position makes the feature depend on the amount of padding,
    so that pooling takes ids padded to the context length and refuses shorter ones; masked mean
    pooling ignores padding."""
    tokens_cfg = legacy_cfg.copy()
    tokens_cfg.text.pool = 'mean_all'
    model = MODELS.build(tokens_cfg).eval()
    tokens = model.tokenize(['the cat'])
    assert tokens.shape[1] == model.text.context_length
    n = int(model.tokenizer.real_mask(tokens).sum())
    with torch.no_grad():
        pads = model.text.encode(tokens)
        heavier = model.text.encode(torch.where(tokens == 0, 7, tokens))
        assert (pads - heavier).abs().max() > 1e-3  # the pads take part
        with pytest.raises(ValueError, match='padded to'):
            model.text.encode(tokens[:, :n + 2])
    tokens_cfg.text.pool = 'masked_mean'
    model = MODELS.build(tokens_cfg).eval()
    tokens = model.tokenizer(['the cat'])
    with torch.no_grad():
        full = model.encode_text(tokens)
        fewer_pads = model.encode_text(tokens[:, :n + 2])
    assert (full - fewer_pads).abs().max() < 1e-5


def test_cross_attention_sees_the_cls_token(legacy_model):
    model = legacy_model
    tokens = model.tokenize(['the cat'])
    with torch.no_grad():
        image_tokens = model.visual.forward_tokens(torch.randn(1, 3, 32, 32))
        changed = image_tokens.clone()
        changed[:, 0] += 1.0  # only the CLS output
        a = model.text.generate_logits(tokens, model.image_kv(image_tokens))
        b = model.text.generate_logits(tokens, model.image_kv(changed))
    assert (a - b).abs().max() > 1e-3


# ---- presets and the tool ---------------------------------------------------------------------
def test_l14_preset_matches_the_documented_checkpoint(files):
    cfg = Config.fromfile(PRESET).model
    cfg.tokenizer.path = files['vocab']
    with torch.device('meta'):
        model = MODELS.build(cfg)
        fork = {k: torch.empty(s) for k, s in fork_shapes(L14).items()}
    ours = convert_openmammut_state_dict(fork, target=model)
    assert len(ours) == len(model.state_dict())
    n_params = sum(v.numel() for v in fork.values())
    assert 505e6 < n_params < 512e6, n_params  # "508M params"
    assert (model.visual.class_embedding is not None and model.visual.conv1.bias is None
            and model.text.pool == 'mean_all' and model.text.text_proj is None)


def _load_tool():
    spec = importlib.util.spec_from_file_location(
        'convert_openmammut', osp.join(ROOT, 'tools', 'convert_openmammut.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_convert_tool_and_mmengine_loading(files, legacy_cfg, tmp_path, capsys):
    fork = fork_state_dict(seed=3)
    src = tmp_path / 'open_clip_pytorch_model.bin'
    torch.save({'state_dict': {f'module.{k}': v for k, v in fork.items()}}, src)
    dst = tmp_path / 'out' / 'openmammut_tiny.pth'
    _load_tool().main([str(src), str(dst), '--config', files['config'], '--check',
                       '--prompts', 'the cat', 'the dog'])
    out = capsys.readouterr().out
    assert 'wrote' in out and 'the cat' in out and 'greedy caption' in out
    ckpt = torch.load(dst, map_location='cpu', weights_only=True)
    assert ckpt['meta']['converted_from'] == 'open_clip_pytorch_model.bin'
    expected = convert_openmammut_state_dict(fork)
    model = MODELS.build(legacy_cfg)
    load_checkpoint(model, str(dst), map_location='cpu', strict=True)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in expected.items())
    cfg = legacy_cfg.copy()
    cfg.init_cfg = dict(type='Pretrained', checkpoint=str(dst))
    pretrained = MODELS.build(cfg)
    pretrained.init_weights()
    assert all(torch.equal(pretrained.state_dict()[k], v) for k, v in expected.items())
    assert all(torch.equal(load_openmammut(MODELS.build(legacy_cfg), str(src)).state_dict()[k],
                           v) for k, v in expected.items())


def test_zero_shot_retrieval_config(files, tmp_path):
    import cv2
    import numpy as np
    from mmengine.runner import Runner
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'openmammut',
                                   'openmammut_l14_zeroshot_retrieval.py'))
    assert cfg.model.text.pool == 'mean_all' and cfg.model.vision.class_token
    tiny = Config.fromfile(files['config']).model
    cfg.model.update(vision=tiny.vision, text=tiny.text, tokenizer=tiny.tokenizer)
    ckpt = tmp_path / 'tiny.pth'
    torch.save({'state_dict': convert_openmammut_state_dict(fork_state_dict())}, ckpt)
    lines = []
    for i, (color, caption) in enumerate([((0, 0, 255), 'the cat'), ((255, 0, 0), 'the dog'),
                                          ((0, 255, 0), 'a cat of the dog')]):
        img = np.zeros((40 + 10 * i, 60, 3), np.uint8)
        img[:] = color
        cv2.imwrite(str(tmp_path / f'{i}.png'), img)
        lines.append(f'{{"image": "{i}.png", "caption": "{caption}"}}')
    (tmp_path / 'test.jsonl').write_text('\n'.join(lines))
    pipeline = cfg.test_dataloader.dataset.pipeline
    pipeline[1].scale = (32 * 100, 32)
    pipeline[2].crop_size = 32
    cfg.test_dataloader.update(num_workers=0, persistent_workers=False, batch_size=2)
    cfg.test_dataloader.dataset.update(data_root=str(tmp_path), ann_file='test.jsonl')
    cfg.load_from = str(ckpt)
    cfg.work_dir = str(tmp_path / 'work')
    metrics = Runner.from_cfg(cfg).test()
    assert set(metrics) >= {'retrieval/i2t@1', 'retrieval/t2i@10', 'retrieval/chance_i2t@1'}
    assert all(0.0 <= v <= 100.0 for v in metrics.values())
