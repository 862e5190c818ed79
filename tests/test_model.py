"""Semantics of the MaMMUT model: the two passes, their masks, gradients and losses."""
from __future__ import annotations

import math

import pytest
import torch
from mmengine.registry import MODELS
from mmengine.structures import BaseDataElement

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


def test_contrastive_pass_is_bidirectional(tiny_cfg):
    """Position 0's hidden state (before pooling) depends on a later token: no causal mask."""
    model = build(tiny_cfg).eval()
    tokens = model.tokenize(['a green triangle on the left'])
    valid = model.tokenizer.real_mask(tokens)
    changed = tokens.clone()
    changed[0, 3] = (changed[0, 3] + 5) % model.text.vocab_size
    a = model.text.forward_contrastive(tokens, valid)
    b = model.text.forward_contrastive(changed, valid)
    assert (a[0, 0] - b[0, 0]).abs().max() > 1e-4


def test_contrastive_feature_ignores_the_amount_of_padding(tiny_cfg):
    model = build(tiny_cfg).eval()
    tokens = model.tokenize(['a red circle'])
    padded = model.tokenizer(['a red circle'])
    assert padded.shape[1] > tokens.shape[1]
    torch.testing.assert_close(model.encode_text(padded), model.encode_text(tokens), rtol=1e-5,
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


def test_image_encoder_runs_once_and_lm_head_only_in_generative_pass(tiny_cfg, monkeypatch):
    import mammut_det.models.mammut as mammut_module
    model = build(tiny_cfg)
    calls = {'visual': 0, 'lm_head': 0}
    model.visual.register_forward_hook(lambda *a: calls.__setitem__('visual',
                                                                    calls['visual'] + 1))
    head = mammut_module.lm_head_cross_entropy_sum

    def counted(hidden, weight, *args):
        assert weight is model.text.lm_head.weight
        calls['lm_head'] += 1
        return head(hidden, weight, *args)

    monkeypatch.setattr(mammut_module, 'lm_head_cross_entropy_sum', counted)
    data = samples(CAPTIONS[:2])
    model.loss(torch.randn(2, 3, 32, 32), data)
    assert calls == {'visual': 1, 'lm_head': 1}
    model.set_pass_schedule(('contrastive', 'generative'), dict(contrastive=1., generative=0.))
    losses = model.loss(torch.randn(2, 3, 32, 32), data)
    assert calls == {'visual': 2, 'lm_head': 1}
    assert set(losses) == {'loss_contrastive', 'temperature'}


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


def clip_mammut(tmp_path, tiny_cfg):
    """The tiny MaMMUT on a CLIP-style vocabulary, where the pad id 0 is also the token '!'."""
    import gzip
    path = tmp_path / 'vocab.txt.gz'
    with gzip.open(path, 'wt', encoding='utf-8') as f:
        f.write('"test" header\n' + ''.join(f'{a} {b}\n' for a, b in
                                           [('w', 'o'), ('wo', 'w</w>')]))
    tiny_cfg['tokenizer'] = dict(type='CLIPTokenizer', path=str(path), context_length=16)
    tiny_cfg['text']['vocab_size'] = 512 + 2 + 2
    return build(tiny_cfg)


def test_exclamation_marks_are_real_tokens_not_padding(tmp_path, tiny_cfg):
    model = clip_mammut(tmp_path, tiny_cfg).eval()
    tok = model.tokenizer
    wow = tok(['wow!!'])[0].tolist()
    # start, "wow", "!" (the byte symbol, id 0 = the pad id), "!</w>", end, then padding
    end = wow.index(tok.eot_id)
    assert tok.pad_id == 0 and wow[2] == 0 and end == 4

    # contrastive path: the embedding of id 0 reaches the feature of "wow!!" but not of "wow"
    before = model.encode_text(tok(['wow!!', 'wow']))
    with torch.no_grad():
        model.text.token_embedding.weight[0] += torch.randn(model.text.width)
    after = model.encode_text(tok(['wow!!', 'wow']))
    assert (after[0] - before[0]).abs().max() > 1e-4
    torch.testing.assert_close(after[1], before[1], rtol=0, atol=1e-6)

    # caption path: the loss is the mean cross-entropy over every target up to the end token,
    # "!" included, computed here from the logits by hand
    model.set_pass_schedule(('contrastive', 'generative'), dict(contrastive=0., generative=1.))
    images = torch.randn(1, 3, 32, 32)
    tokens = tok(['wow!!'])
    got = model.loss(images, samples(['wow!!']))['loss_caption']
    kv = model.image_kv(model.visual(images)[1])
    logp = model.text.generate_logits(tokens[:, :-1], kv).log_softmax(-1)[0]
    targets = wow[1:end + 1]
    want = -sum(logp[t, targets[t]].item() for t in range(len(targets))) / len(targets)
    assert got.item() == pytest.approx(want, rel=1e-5)


def test_pad_id_must_match_between_tokenizer_and_decoder(tiny_cfg):
    tiny_cfg['text']['pad_id'] = 3
    with pytest.raises(ValueError, match='pad'):
        MODELS.build(tiny_cfg)


def test_temperature_is_not_clamped_in_the_forward_pass(tiny_cfg):
    """Above log(100) the logit scale still gets a gradient (a clamp in the forward pass would
    zero it); the in-place clamp after the step brings it back, as open_clip does."""
    model = build(tiny_cfg)
    model.set_pass_schedule(('contrastive', 'generative'), dict(contrastive=1., generative=0.))
    with torch.no_grad():
        model.logit_scale.fill_(math.log(200.0))
    losses = model.loss(torch.randn(4, 3, 32, 32), samples(CAPTIONS[:4]))
    losses['loss_contrastive'].backward()
    assert model.logit_scale.grad.abs().item() > 0
    assert losses['temperature'].item() == pytest.approx(1 / 200.0)
    model.clamp_logit_scale()
    assert model.logit_scale.item() == pytest.approx(math.log(100.0))
    with torch.no_grad():
        model.logit_scale.fill_(-0.5)
    model.clamp_logit_scale()
    assert model.logit_scale.item() == 0.0


def test_batch_tokens_from_workers_equal_tokenising_the_captions(tiny_cfg):
    model = build(tiny_cfg)
    captions = ['a red circle', 'a blue square', 'two yellow stars']
    packed = [BaseDataElement(metainfo=dict(caption=c),
                              text_tokens=torch.tensor(ids))
              for c, ids in zip(captions, model.tokenizer.token_ids(captions))]
    a, b = model.batch_tokens(packed), model.batch_tokens(samples(captions))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    longest = max(len(ids) for ids in model.tokenizer.token_ids(captions))
    assert a.shape == (3, longest) and longest < model.text.context_length
