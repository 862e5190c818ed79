"""Activation checkpointing (``with_cp``): the image encoder, both decoder passes and the tube
video encoder give the same outputs and gradients with it as without, and really recompute."""
from __future__ import annotations

import copy

import pytest
import torch
from mmengine.registry import MODELS
from mmengine.structures import BaseDataElement

from mammut_det.models.layers import Block, CrossAttentionBlock
from mammut_det.video import MaMMUTTubeViT


def block_calls(model: torch.nn.Module) -> dict[str, int]:
    """Counts of forward calls per block type, updated as the model runs (the recomputation in
    the backward pass calls ``forward`` again but runs no forward hooks)."""
    counts = {'Block': 0, 'CrossAttentionBlock': 0}

    def counted(module):
        forward = module.forward

        def wrapper(*args, **kwargs):
            counts[type(module).__name__] += 1
            return forward(*args, **kwargs)
        return wrapper

    for m in model.modules():
        if isinstance(m, (Block, CrossAttentionBlock)):
            m.forward = counted(m)
    return counts


def run(model: torch.nn.Module, step) -> tuple[dict, dict, dict]:
    calls = block_calls(model)
    outputs = step(model)
    sum(v.float().sum() for k, v in outputs.items() if k.startswith('loss')).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return outputs, grads, dict(calls)


def assert_same(plain, checkpointed) -> None:
    (out_a, grad_a, _), (out_b, grad_b, _) = plain, checkpointed
    assert out_a.keys() == out_b.keys()
    for key in out_a:
        torch.testing.assert_close(out_b[key], out_a[key], rtol=0, atol=0, msg=key)
    assert grad_a.keys() == grad_b.keys() and len(grad_a) > 10
    for name in grad_a:
        torch.testing.assert_close(grad_b[name], grad_a[name], rtol=0, atol=0, msg=name)


@pytest.mark.parametrize('order', [('contrastive', 'generative'), ('generative', 'contrastive')])
def test_mammut_two_passes_are_identical_with_checkpointing(tiny_cfg, order):
    plain_cfg = copy.deepcopy(tiny_cfg)
    cp_cfg = copy.deepcopy(tiny_cfg)
    cp_cfg['vision']['with_cp'] = True
    cp_cfg['text']['with_cp'] = True
    images = torch.randn(3, 3, 32, 32)
    samples = [BaseDataElement(metainfo=dict(caption=c))
               for c in ('a red circle', 'two yellow stars', 'a blue square wow!')]
    # cropped positional embeddings on: the crops must not be drawn again in the recomputation
    cpe_seed = 7

    def step(model):
        model.train()
        model.set_pass_schedule(order, dict(contrastive=1.0, generative=1.0))
        model.visual.use_cpe = True
        model.visual.cpe_generator = torch.Generator().manual_seed(cpe_seed)
        return model.loss(images, samples)

    results = []
    for cfg in (plain_cfg, cp_cfg):
        torch.manual_seed(0)
        results.append(run(MODELS.build(cfg), step))
    assert_same(*results)
    # image encoder 2 blocks, decoder 4 blocks run twice (both passes), 2 cross-attention blocks
    assert results[0][2] == {'Block': 2 + 4 + 4, 'CrossAttentionBlock': 2}
    assert results[1][2] == {'Block': 2 * (2 + 4 + 4), 'CrossAttentionBlock': 2 * 2}


def test_checkpointing_is_off_in_eval_and_without_grad(tiny_cfg):
    cfg = copy.deepcopy(tiny_cfg)
    cfg['vision']['with_cp'] = True
    cfg['text']['with_cp'] = True
    model = MODELS.build(cfg)
    calls = block_calls(model)
    images = torch.randn(2, 3, 32, 32)
    model.eval()
    model.encode_image(images).sum().backward()
    model.train()
    with torch.no_grad():
        model.encode_text(['a red circle', 'two stars'])
    assert calls == {'Block': 2 + 4, 'CrossAttentionBlock': 0}


def test_tube_vit_is_identical_with_checkpointing():
    kwargs = dict(clip_len=8, img_size=32, patch_size=8, width=32, depth=3, num_heads=2,
                  embed_dim=24)
    video = torch.randn(2, 3, 8, 32, 32)

    def step(model):
        model.train()
        return {'loss': model(video)}

    results = []
    for with_cp in (False, True):
        torch.manual_seed(0)
        model = MaMMUTTubeViT(with_cp=with_cp, **kwargs)
        with torch.no_grad():
            model.pos_gate.fill_(0.5)  # the tube position code takes part
        results.append(run(model, step))
    assert_same(*results)
    assert results[0][2]['Block'] == 3 and results[1][2]['Block'] == 6
