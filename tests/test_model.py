"""Semantics of the MaMMUT model: the two passes, their masks, gradients and losses."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import MODELS
from mmengine.structures import BaseDataElement

from mammut_det.models import focal_contrastive_loss
from tests.conftest import CAPTIONS


def build(cfg):
    model = MODELS.build(cfg)
    model.set_pass_schedule(('contrastive', 'generative'),
                            dict(contrastive=1.0, generative=1.0))
    return model


def samples(captions):
    return [BaseDataElement(metainfo=dict(caption=c)) for c in captions]


def grads(model, weights):
    model.zero_grad(set_to_none=True)
    model.set_pass_schedule(('contrastive', 'generative'), weights)
    images = torch.randn(4, 3, 32, 32)
    losses = model.loss(images, samples(CAPTIONS[:4]))
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    return {n: (p.grad.abs().sum().item() if p.grad is not None else 0.0)
            for n, p in model.named_parameters()}


def test_contrastive_text_embedding_ignores_the_image(tiny_cfg):
    model = build(tiny_cfg)
    seen = []
    model.text.text_proj.register_forward_hook(lambda m, i, o: seen.append(o.detach()))
    data = samples(CAPTIONS[:3])
    model.loss(torch.randn(3, 3, 32, 32), data)
    model.loss(torch.randn(3, 3, 32, 32) * 5, data)
    assert len(seen) == 2
    torch.testing.assert_close(seen[0], seen[1], rtol=0, atol=0)


def test_generative_pass_is_causal(tiny_cfg):
    model = build(tiny_cfg).eval()
    tokens = model.tokenize(['a small purple cross next to a big red circle'])
    kv = model.image_kv(model.visual(torch.randn(1, 3, 32, 32))[1])
    t = 4
    changed = tokens.clone()
    changed[0, t + 1] = (changed[0, t + 1] + 7) % model.text.vocab_size
    a = model.text.generate_logits(tokens, kv)
    b = model.text.generate_logits(changed, kv)
    torch.testing.assert_close(a[:, :t + 1], b[:, :t + 1], rtol=0, atol=0)
    assert (a[:, t + 1:] - b[:, t + 1:]).abs().max() > 1e-4


def test_generative_pass_sees_the_image(tiny_cfg):
    model = build(tiny_cfg).eval()
    tokens = model.tokenize(['a red circle'])
    kv1 = model.image_kv(model.visual(torch.randn(1, 3, 32, 32))[1])
    kv2 = model.image_kv(model.visual(torch.randn(1, 3, 32, 32))[1])
    diff = model.text.generate_logits(tokens, kv1) - model.text.generate_logits(tokens, kv2)
    assert diff.abs().max() > 1e-4


def test_contrastive_pass_is_bidirectional_and_ignores_padding(tiny_cfg):
    model = build(tiny_cfg).eval()
    tokens = model.tokenize(['a green triangle on the left'])
    n = int((tokens != 0).sum())
    feat = model.text.encode(tokens)
    # a later token changes the feature (bidirectional pooling over all real tokens) ...
    changed = tokens.clone()
    changed[0, n - 2] = (changed[0, n - 2] + 5) % model.text.vocab_size
    assert (model.text.encode(changed) - feat).abs().max() > 1e-4
    # ... while the amount of padding does not (masked attention and masked mean)
    torch.testing.assert_close(model.text.encode(tokens[:, :n + 1]), feat, rtol=1e-5,
                               atol=1e-6)


def test_cross_attention_gets_gradient_only_from_the_generative_pass(tiny_cfg):
    model = build(tiny_cfg)
    g_con = grads(model, dict(contrastive=1.0, generative=0.0))
    g_gen = grads(model, dict(contrastive=0.0, generative=1.0))
    cross = [n for n in g_con if n.startswith('text.cross_attn.')]
    assert cross and all(g_con[n] == 0 for n in cross)
    assert all(g_gen[n] > 0 for n in cross)
    assert g_gen['map_image_tokens.weight'] > 0 and g_con['map_image_tokens.weight'] == 0


def test_shared_decoder_weights_get_gradient_from_both_passes(tiny_cfg):
    model = build(tiny_cfg)
    g_con = grads(model, dict(contrastive=1.0, generative=0.0))
    g_gen = grads(model, dict(contrastive=0.0, generative=1.0))
    g_both = grads(model, dict(contrastive=1.0, generative=1.0))
    shared = [n for n in g_con if n.startswith(('text.resblocks.', 'text.ln_final.',
                                                'text.positional_embedding'))]
    shared.append('text.token_embedding.weight')
    for name in shared:
        assert g_con[name] > 0, f'{name} gets no gradient from the contrastive pass'
        assert g_gen[name] > 0, f'{name} gets no gradient from the generative pass'
    assert g_both['text.resblocks.0.attn.in_proj_weight'] > 0
    assert g_con['text.text_proj.weight'] > 0 and g_gen['text.text_proj.weight'] == 0
    assert g_gen['text.lm_head.weight'] > 0 and g_con['text.lm_head.weight'] == 0


def test_summed_gradients_equal_the_sum_of_per_pass_gradients(tiny_cfg):
    model = build(tiny_cfg)
    images = torch.randn(4, 3, 32, 32)
    data = samples(CAPTIONS[:4])

    def flat(weights):
        model.zero_grad(set_to_none=True)
        model.set_pass_schedule(('contrastive', 'generative'), weights)
        losses = model.loss(images, data)
        sum(v for k, v in losses.items() if k.startswith('loss')).backward()
        return torch.cat([p.grad.flatten() for p in model.text.resblocks.parameters()])

    both = flat(dict(contrastive=1., generative=1.))
    split = flat(dict(contrastive=1., generative=0.)) + flat(dict(contrastive=0., generative=1.))
    torch.testing.assert_close(both, split, rtol=1e-4, atol=1e-6)


def test_image_encoder_runs_once_and_lm_head_only_in_generative_pass(tiny_cfg):
    model = build(tiny_cfg)
    calls = {'visual': 0, 'lm_head': 0}
    model.visual.register_forward_hook(lambda *a: calls.__setitem__('visual',
                                                                    calls['visual'] + 1))
    model.text.lm_head.register_forward_hook(lambda *a: calls.__setitem__('lm_head',
                                                                         calls['lm_head'] + 1))
    data = samples(CAPTIONS[:2])
    model.loss(torch.randn(2, 3, 32, 32), data)
    assert calls == {'visual': 1, 'lm_head': 1}
    model.set_pass_schedule(('contrastive', 'generative'), dict(contrastive=1., generative=0.))
    losses = model.loss(torch.randn(2, 3, 32, 32), data)
    assert calls == {'visual': 2, 'lm_head': 1}
    assert set(losses) == {'loss_contrastive', 'temperature'}


def test_focal_loss_matches_a_hand_computation():
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 1.5, -2.0], [1.0, 0.3, -0.7]])
    alpha, gamma = 0.25, 2.0
    total = 0.0
    for i in range(3):
        for j in range(3):
            p = 1 / (1 + math.exp(-logits[i, j].item()))
            if i == j:
                total += -alpha * (1 - p) ** gamma * math.log(p)
            else:
                total += -(1 - alpha) * p ** gamma * math.log(1 - p)
    got = focal_contrastive_loss(logits, alpha=alpha, gamma=gamma)
    assert got.item() == pytest.approx(total / 3, rel=1e-6)
    # the defaults (alpha 0.5, gamma 1) weight every entry by 0.5 * (1 - p_t)
    bce = F.binary_cross_entropy_with_logits(logits, torch.eye(3), reduction='none')
    p_t = torch.where(torch.eye(3).bool(), logits.sigmoid(), 1 - logits.sigmoid())
    expected = (0.5 * (1 - p_t) * bce).sum() / 3
    assert focal_contrastive_loss(logits).item() == pytest.approx(expected.item(), rel=1e-6)


def test_focal_loss_rejects_a_non_square_matrix():
    with pytest.raises(ValueError, match='square'):
        focal_contrastive_loss(torch.zeros(2, 3))


def test_cpe_is_random_in_training_and_absent_in_eval(tiny_cfg):
    model = build(tiny_cfg)
    visual = model.visual
    images = torch.randn(2, 3, 32, 32)
    visual.eval()
    plain = visual(images)[0]
    visual.use_cpe = True
    torch.testing.assert_close(visual(images)[0], plain, rtol=0, atol=0)
    visual.train()
    a, b = visual(images)[0], visual(images)[0]
    assert (a - b).abs().max() > 1e-5 and (a - plain).abs().max() > 1e-5
    visual.use_cpe = False
    torch.testing.assert_close(visual(images)[0], plain, rtol=1e-6, atol=1e-6)


def test_cpe_full_crop_equals_the_upsampled_embedding(tiny_cfg):
    from mammut_det.models.pos_embed import cropped_pos_embed, resample_grid
    pos = torch.randn(16, 8)
    full_box = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
    # cropping the whole upsampled map and resizing it back returns the original grid
    # (exactly when the upsampling factor is an integer, bilinear, align_corners=False)
    out = cropped_pos_embed(pos, (4, 4), (4, 4), full_box)
    torch.testing.assert_close(out[0], pos, rtol=1e-5, atol=1e-5)
    up = resample_grid(pos, (4, 4), (8, 8))
    assert up.shape == (64, 8)


def test_loss_requires_a_pass_schedule(tiny_cfg):
    model = MODELS.build(tiny_cfg)
    with pytest.raises(RuntimeError, match='TwoPassScheduleHook'):
        model.loss(torch.randn(1, 3, 32, 32), samples(['a red circle']))


def test_predict_gives_normalised_embeddings_and_captions(tiny_cfg):
    tiny_cfg['test_cfg'] = dict(generate_captions=True, max_new_tokens=5)
    model = build(tiny_cfg).eval()
    out = model.predict(torch.randn(2, 3, 32, 32), samples(['a red circle', 'a blue square']))
    for s in out:
        assert s.image_embedding.shape == (24,) and s.text_embedding.shape == (24,)
        assert s.image_embedding.norm().item() == pytest.approx(1.0, abs=1e-5)
        assert isinstance(s.pred_caption, str)


def test_mismatched_shapes_are_rejected(tiny_cfg):
    tiny_cfg['text']['embed_dim'] = 16
    with pytest.raises(ValueError, match='embed_dim'):
        MODELS.build(tiny_cfg)
