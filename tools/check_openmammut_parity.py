"""Check that mammut_det's openMaMMUT model computes what LAION's fork (open_clip_mammut) computes.

    python tools/check_openmammut_parity.py --fork-src PATH/TO/open_clip_mammut/src --tiny
    python tools/check_openmammut_parity.py --fork-src PATH/TO/open_clip_mammut/src \\
        --checkpoint open_clip_pytorch_model.bin [--threads 8]

The fork's ``MaMMUT`` is imported from ``--fork-src`` only (its ``open_clip/__init__.py`` is not
run, so the fork's tokenizer and training dependencies are not needed). ``--tiny`` builds a small
fork model of the L/14 structure (CLS token, ``avg_all`` pooling with ``ln_post`` after the pool,
cross-attention every 2nd decoder layer, 77 positions, 49408 ids) with random weights, LayerNorms
and ``logit_scale`` included; ``--checkpoint`` loads the public weights into the fork's L/14
model (``model_configs/mammut_ViT-L-14.json`` of the checkout if present). The weights file (with
``--tiny`` the random state dict saved with ``torch.save``) is converted with
``tools/convert_openmammut.py`` and loaded into our model (``configs/openmammut/openmammut_l14.py``
with the fork's shapes) as MMEngine loads it.

Both run in float32 on the CPU on the same random images (already normalised) and on token rows
``start, words, end, 0-pads`` with 0 to 75 words. Compared, as max abs difference:

- ``image_feature``: pooled image feature before normalisation (fork ``visual(x)[0]``);
- ``image_feature_norm``: ``encode_image`` (L2-normalised, as the fork's ``forward`` returns it);
- ``text_feature`` / ``text_feature_norm``: contrastive text feature (mean over all 77 positions),
  unnormalised and normalised;
- ``contrastive_logits``: ``exp(logit_scale) * img @ txt.T`` from the fork's ``forward`` outputs;
- ``caption_logits``: fork ``forward(..., is_training=False)['logits']`` (all 77 positions,
  causal, cross-attention to the image) and ``caption_logits_train``: ``is_training=True``
  (``text[:, :-1]``), against our ``text.generate_logits``;
- ``image_tokens`` (reported, not gated): the encoder tokens the decoder cross-attends to.

Exit status 1 if a feature differs by more than ``--atol-feature`` (1e-5) or a logit by more than
``--atol-logit`` (1e-4); max |reference| is printed beside each difference to judge its scale.
"""
from __future__ import annotations

import argparse
import copy
import gzip
import importlib
import importlib.util
import json
import os.path as osp
import sys
import tempfile
import types
from typing import Any

import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import MODELS
from mmengine.runner import load_checkpoint
from torch import Tensor, nn

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
from mammut_det.models.openmammut import load_openmammut_checkpoint  # noqa: E402

PRESET = osp.join(ROOT, 'configs', 'openmammut', 'openmammut_l14.py')
SOT, EOT, PAD = 49406, 49407, 0
# The fork's model config for openMaMMUT-ViT-L-14 (as its mammut_ViT-L-14*.json files).
L14_CFG: dict[str, Any] = dict(
    embed_dim=768,
    vision_cfg=dict(image_size=224, layers=24, width=1024, patch_size=14, output_tokens=True,
                    pool_type='avg_all', final_ln_after_pool=True),
    text_cfg=dict(context_length=77, vocab_size=49408, width=768, heads=12, layers=12,
                  output_tokens=True, cross_attn_ratio=2, does_full_decoding=True))
# Same structure, small. The vocabulary stays 49408: the fork's decoder builds its token
# embedding with the default vocab_size whatever text_cfg says.
TINY_CFG: dict[str, Any] = dict(
    embed_dim=48,
    vision_cfg=dict(image_size=56, layers=2, width=64, head_width=32, patch_size=14,
                    output_tokens=True, pool_type='avg_all', final_ln_after_pool=True),
    text_cfg=dict(context_length=77, vocab_size=49408, width=48, heads=4, layers=4,
                  output_tokens=True, cross_attn_ratio=2, does_full_decoding=True))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description='openMaMMUT parity: the fork vs mammut_det')
    p.add_argument('--fork-src', required=True,
                   help='the src/ folder of an open_clip_mammut checkout (holds open_clip/)')
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument('--checkpoint', help='the fork weights (.bin, .pt, .safetensors): L/14')
    mode.add_argument('--tiny', action='store_true', help='a tiny fork model, random weights')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--threads', type=int, default=1, help='torch CPU threads')
    p.add_argument('--atol-feature', type=float, default=1e-5)
    p.add_argument('--atol-logit', type=float, default=1e-4)
    return p.parse_args(argv)


def import_fork(src: str) -> types.ModuleType:
    """``open_clip.mammut_model`` from ``src``; only the modules MaMMUT needs are imported."""
    pkg_dir = osp.join(osp.abspath(src), 'open_clip')
    if not osp.isfile(osp.join(pkg_dir, 'mammut_model.py')):
        sys.exit(f'--fork-src {src!r}: no open_clip/mammut_model.py there; pass the src/ folder '
                 'of a LAION-AI/open_clip_mammut checkout')
    for name in [m for m in sys.modules if m == 'open_clip' or m.startswith('open_clip.')]:
        del sys.modules[name]
    sys.path.insert(0, osp.abspath(src))
    pkg = types.ModuleType('open_clip')
    pkg.__path__ = [pkg_dir]  # a bare package: open_clip/__init__.py is not executed
    sys.modules['open_clip'] = pkg
    module = importlib.import_module('open_clip.mammut_model')
    assert osp.abspath(module.__file__).startswith(pkg_dir), module.__file__
    return module


def load_tool() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(
        'convert_openmammut', osp.join(ROOT, 'tools', 'convert_openmammut.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@torch.no_grad()
def randomise(model: nn.Module, seed: int) -> None:
    """Every parameter random: LayerNorm weights 1 + 0.1 N, other vectors 0.1 N, matrices
    N / sqrt(fan_in), ``logit_scale`` in [2, 4.5] (below log 100: open_clip's training clamps it
    there and our ``contrastive_logits`` clamps exp(logit_scale) at 100)."""
    g = torch.Generator().manual_seed(seed)
    x_at_w = ('map_viz2txt_kv', 'visual.proj', 'text.text_projection')  # applied as x @ W
    for name, p in model.named_parameters():
        x = torch.randn(p.shape, generator=g)
        if name == 'logit_scale':
            x = 2.0 + 2.5 * torch.rand((), generator=g)
        elif p.ndim == 1:
            is_ln_weight = '.ln_' in f'.{name}' and name.endswith('.weight')
            x = 1.0 + 0.1 * x if is_ln_weight else 0.1 * x
        else:
            fan_in = p.shape[0] if name in x_at_w else p[0].numel()
            x = x / fan_in ** 0.5
        p.copy_(x)


def our_model_cfg(fork_cfg: dict, vocab: str) -> Config:
    v, t = fork_cfg['vision_cfg'], fork_cfg['text_cfg']
    cfg = Config.fromfile(PRESET).model
    cfg.vision.update(img_size=v['image_size'], patch_size=v['patch_size'], width=v['width'],
                      depth=v['layers'], num_heads=v['width'] // v.get('head_width', 64),
                      mlp_ratio=v.get('mlp_ratio', 4.0), embed_dim=fork_cfg['embed_dim'])
    cfg.text.update(vocab_size=t['vocab_size'], context_length=t['context_length'],
                    width=t['width'], depth=t['layers'], num_heads=t['heads'],
                    mlp_ratio=t.get('mlp_ratio', 4.0), embed_dim=t['width'],
                    cross_attn_every=t['cross_attn_ratio'])
    cfg.tokenizer.update(path=vocab, context_length=t['context_length'])
    return cfg


def token_rows(vocab_size: int, context: int, seed: int) -> Tensor:
    """Rows ``start, words, end, pads`` with 0, 5, 30 and context - 2 words."""
    g = torch.Generator().manual_seed(seed + 1)
    rows = torch.full((4, context), PAD, dtype=torch.long)
    for i, n in enumerate((0, 5, 30, context - 2)):
        words = torch.randint(1, min(SOT, vocab_size), (n,), generator=g)
        rows[i, :n + 2] = torch.cat([torch.tensor([SOT]), words, torch.tensor([EOT])])
    return rows


@torch.no_grad()
def compare(fork: nn.Module, ours: nn.Module, images: Tensor, tokens: Tensor,
            atol_feature: float, atol_logit: float) -> bool:
    f_feat, f_tokens = fork.visual(images)
    f_img, f_embs = fork._encode_image(images)
    f_txt = fork.encode_text(tokens, normalize=False)
    out = fork(text=tokens, image_latent=f_img, image_embs=f_embs, is_training=True)
    f_sim = out['logit_scale'] * out['image_features'] @ out['text_features'].t()
    f_gen = fork(text=tokens, image_latent=f_img, image_embs=f_embs, is_training=False)['logits']

    o_feat, o_tokens = ours.visual(images)
    o_img = ours.encode_image(images)
    o_txt = ours.encode_text(tokens, normalize=False)
    o_sim = ours.contrastive_logits(o_img, ours.encode_text(tokens))
    kv = ours.image_kv(o_tokens)
    rows = [('image_tokens', f_tokens, o_tokens, None),
            ('image_feature', f_feat, o_feat, atol_feature),
            ('image_feature_norm', out['image_features'], o_img, atol_feature),
            ('text_feature', f_txt, o_txt, atol_feature),
            ('text_feature_norm', out['text_features'], F.normalize(o_txt, dim=-1),
             atol_feature),
            ('contrastive_logits', f_sim, o_sim, atol_logit),
            ('caption_logits', f_gen, ours.text.generate_logits(tokens, kv), atol_logit),
            ('caption_logits_train', out['logits'],
             ours.text.generate_logits(tokens[:, :-1], kv), atol_logit)]
    ok = True
    print(f'{"quantity":22s} {"shape":>18s} {"max|ref|":>10s} {"max|diff|":>10s} {"tol":>7s}')
    for name, ref, got, tol in rows:
        if ref.shape != got.shape:
            print(f'{name:22s} shape {tuple(ref.shape)} (fork) != {tuple(got.shape)} (ours)  FAIL')
            ok = False
            continue
        diff = (ref - got).abs().max().item()
        passed = tol is None or diff <= tol
        ok &= passed
        verdict = 'info' if tol is None else ('ok' if passed else 'FAIL')
        print(f'{name:22s} {str(tuple(ref.shape)):>18s} {ref.abs().max().item():10.4g} '
              f'{diff:10.3e} {"-" if tol is None else f"{tol:.0e}":>7s}  {verdict}')
    return ok


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    fork_module = import_fork(args.fork_src)
    fork_cfg = copy.deepcopy(TINY_CFG if args.tiny else L14_CFG)
    json_cfg = osp.join(args.fork_src, 'open_clip', 'model_configs', 'mammut_ViT-L-14.json')
    if not args.tiny and osp.isfile(json_cfg):
        with open(json_cfg) as f:
            fork_cfg = json.load(f)
    fork_cfg.pop('custom_text', None)
    fork = fork_module.MaMMUT(**fork_cfg).eval()
    if args.tiny:
        randomise(fork, args.seed)
    else:
        fork.load_state_dict(load_openmammut_checkpoint(args.checkpoint), strict=True)
    print(f'fork: {fork_module.__file__}, {sum(p.numel() for p in fork.parameters()) / 1e6:.1f}M '
          f'parameters, {"random (--tiny)" if args.tiny else args.checkpoint}')

    with tempfile.TemporaryDirectory() as tmp:
        vocab = osp.join(tmp, 'vocab.txt.gz')  # the tokenizer is built but not used: ids below
        with gzip.open(vocab, 'wt', encoding='utf-8') as f:
            f.write('header\nt h\n')
        cfg = our_model_cfg(fork_cfg, vocab)
        src = args.checkpoint
        if src is None:
            src = osp.join(tmp, 'open_clip_pytorch_model.bin')
            torch.save(fork.state_dict(), src)
        dst = osp.join(tmp, 'converted.pth')
        load_tool().convert(src, dst, cfg)
        ours = MODELS.build(cfg).eval()
        load_checkpoint(ours, dst, map_location='cpu', strict=True, logger='silent')

    size = fork_cfg['vision_cfg']['image_size']
    g = torch.Generator().manual_seed(args.seed + 2)
    tokens = token_rows(fork_cfg['text_cfg']['vocab_size'],
                        fork_cfg['text_cfg']['context_length'], args.seed)
    images = torch.randn(len(tokens), 3, size, size, generator=g)
    ok = compare(fork, ours, images, tokens, args.atol_feature, args.atol_logit)
    print('PASS' if ok else 'FAIL: see the rows marked FAIL')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
