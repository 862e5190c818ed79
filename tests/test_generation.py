"""Decoding (mammut_det.generation): the cache changes nothing but the cost, one beam is greedy,
each control does what it says on hand-made logits, the prompt layout and the answer-only loss."""
from __future__ import annotations

import math

import pytest
import torch
from mmengine.registry import MODELS
from mmengine.structures import BaseDataElement

from mammut_det.generation import (
    CachedStepper,
    FullStepper,
    GenerationConfig,
    beam_search,
    generate,
    greedy_search,
    prompted_row,
    target_mask,
)


@pytest.fixture
def model(tiny_cfg):
    """The tiny MaMMUT with its weights scaled up, so that its logits are far from uniform."""
    model = MODELS.build(tiny_cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3)
    return model


def image_kv(model, n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return model.image_kv(model.visual(torch.randn(n, 3, 32, 32, generator=g))[1])


def decode(model, kv, prefixes, **cfg):
    tok = model.tokenizer
    return generate(model.text, kv, prefixes, GenerationConfig(**cfg), tok.eot_id, tok.pad_id,
                    [tok.sot_id])


@pytest.mark.parametrize('beams', [1, 3])
def test_cached_and_uncached_decoding_give_the_same_tokens(model, beams):
    tok = model.tokenizer
    prefixes = [[tok.sot_id], [tok.sot_id, 17, 42, 99, 5], [tok.sot_id, 7, 8], [tok.sot_id, 3]]
    kv = image_kv(model, len(prefixes))
    cached = decode(model, kv, prefixes, num_beams=beams, max_new_tokens=9)
    full = decode(model, kv, prefixes, num_beams=beams, max_new_tokens=9, use_cache=False)
    assert cached.sequences == full.sequences
    assert cached.scores == pytest.approx(full.scores, abs=1e-4)
    # the rows differ (prompts and images count), and a prefix plus 9 tokens fits the context
    assert len({tuple(s) for s in cached.sequences}) == len(prefixes)


def test_cached_logits_equal_the_training_pass(model):
    """Prefill then single steps give the logits of the whole causal pass at each position, for
    rows of different lengths in one batch."""
    tok = model.tokenizer
    rows = [[tok.sot_id, 11, 12, 13, 14, 15], [tok.sot_id, 21, 22]]
    kv = image_kv(model, 2)
    stepper = CachedStepper(model.text, kv, max_new_tokens=3, pad_id=tok.pad_id)
    got = [stepper.start([r[:2] for r in rows])]
    for t in range(2, 5):
        nxt = torch.tensor([rows[0][t], rows[1][t] if t < 3 else 30 + t])
        got.append(stepper.step(nxt))
    for i, row in enumerate(rows):
        full_row = row[:3] + [33, 34] if i == 1 else row[:5]
        want = model.text.generate_logits(torch.tensor([full_row]), kv[i:i + 1])[0]
        for t in range(4):
            torch.testing.assert_close(got[t][i], want[t + 1], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('controls', [dict(), dict(repetition_penalty=1.8, min_new_tokens=4)])
def test_one_beam_is_greedy(model, controls):
    tok = model.tokenizer
    prefixes = [[tok.sot_id], [tok.sot_id, 17, 42], [tok.sot_id, 7, 8, 9]]
    kv = image_kv(model, 3, seed=1)
    greedy = decode(model, kv, prefixes, max_new_tokens=10, **controls)
    beam = decode(model, kv, prefixes, num_beams=1, max_new_tokens=10, **controls)
    assert greedy.sequences == beam.sequences
    # and the beam search path really runs with one beam: call it directly
    for cached in (CachedStepper, FullStepper):
        out = beam_search(cached(model.text, kv, 10, tok.pad_id), prefixes,
                          GenerationConfig(num_beams=1, max_new_tokens=10, **controls),
                          tok.eot_id, tok.pad_id, [tok.sot_id])
        assert out.sequences == greedy.sequences


class MarkovStepper:
    """A stand-in decoder whose next-token log-probabilities depend only on each row's last
    token (``table[last]``), for hand-made search tests."""

    def __init__(self, table: dict[int, list[float]]) -> None:
        self.table = table
        self.last = torch.zeros(0, dtype=torch.long)

    def _logits(self) -> torch.Tensor:
        return torch.tensor([[math.log(p) if p > 0 else float('-inf')
                              for p in self.table[int(t)]] for t in self.last])

    def start(self, prefixes):
        self.last = torch.tensor([p[-1] for p in prefixes])
        return self._logits()

    def reorder(self, index):
        self.last = self.last.index_select(0, index)

    def step(self, tokens):
        self.last = tokens.clone()
        return self._logits()


# ids: 0 pad, 1 start, 2 end, 3 "A", 4 "B", 5 "C"
PAD, SOT, EOT, A, B, C = range(6)
TABLE = {SOT: [0, 0, 0.40, 0.35, 0.25, 0], A: [0, 0, 0.90, 0.05, 0.05, 0],
         B: [0, 0, 0.50, 0.25, 0.25, 0], C: [0, 0, 0.2, 0.4, 0.4, 0], EOT: [0, 0, 1, 0, 0, 0],
         PAD: [0, 0, 1, 0, 0, 0]}


def search(cfg: GenerationConfig, table=TABLE, prefixes=((SOT,),)):
    fn = greedy_search if cfg.num_beams == 1 else beam_search
    return fn(MarkovStepper(table), [list(p) for p in prefixes], cfg, EOT, PAD, [SOT])


def test_length_penalty_ranks_hypotheses_by_mean_or_sum_of_log_probabilities():
    # [end]: log .40 = -0.916; [A, end]: log .35 + log .90 = -1.155, mean over 2 tokens -0.578
    greedy = search(GenerationConfig(max_new_tokens=5))
    assert greedy.sequences == [[EOT]]
    by_sum = search(GenerationConfig(num_beams=2, max_new_tokens=5, length_penalty=0.0))
    assert by_sum.sequences == [[EOT]]
    assert by_sum.scores[0] == pytest.approx(math.log(0.40), abs=1e-6)
    by_mean = search(GenerationConfig(num_beams=2, max_new_tokens=5, length_penalty=1.0))
    assert by_mean.sequences == [[A, EOT]]
    assert by_mean.scores[0] == pytest.approx((math.log(0.35) + math.log(0.9)) / 2, abs=1e-6)


def test_min_new_tokens_holds_back_the_end_token():
    out = search(GenerationConfig(max_new_tokens=6, min_new_tokens=2))
    # step 0: end banned -> A (.35 of the rest); step 1: after A end banned -> A or B (.05 tie
    # broken towards the lower id); step 2: end allowed, after A it is .90
    assert out.sequences == [[A, A, EOT]]
    beams = search(GenerationConfig(num_beams=3, max_new_tokens=6, min_new_tokens=2))
    assert len(beams.sequences[0]) >= 3 and beams.sequences[0][-1] == EOT
    assert EOT not in beams.sequences[0][:2]


def test_repetition_penalty_divides_positive_and_multiplies_negative_logits():
    cfg = GenerationConfig(repetition_penalty=2.0)
    logits = torch.tensor([[3.0, -1.0, 2.0, 1.0]])
    out = cfg.process(logits, torch.tensor([[0, 1]]), eot_id=3)
    torch.testing.assert_close(out, torch.tensor([[1.5, -2.0, 2.0, 1.0]]))
    # below 1 it favours the seen tokens; the prompt is not counted (no generated tokens yet)
    cfg = GenerationConfig(repetition_penalty=0.5)
    out = cfg.process(logits, torch.tensor([[2]]), eot_id=3)
    torch.testing.assert_close(out, torch.tensor([[3.0, -1.0, 4.0, 1.0]]))
    torch.testing.assert_close(cfg.process(logits, torch.zeros(1, 0, dtype=torch.long), 3),
                               logits)


def test_repetition_penalty_stops_a_loop():
    # after C the best token is A or B (.4 each): the search alternates or repeats
    table = {**TABLE, A: [0, 0, 0.0, 0.6, 0.4, 0], B: [0, 0, 0.0, 0.6, 0.4, 0]}
    plain = search(GenerationConfig(max_new_tokens=4), table, prefixes=((SOT, C),))
    assert plain.sequences == [[A, A, A, A]]
    # log .6 = -0.51 becomes -1.02 once A was generated, below log .4 = -0.92
    penalised = search(GenerationConfig(max_new_tokens=4, repetition_penalty=2.0), table,
                       prefixes=((SOT, C),))
    assert penalised.sequences[0][:2] == [A, B]


def test_max_new_tokens_and_context_length_bound_the_output(model):
    tok = model.tokenizer
    kv = image_kv(model, 2)
    out = decode(model, kv, [[tok.sot_id]] * 2, max_new_tokens=4, min_new_tokens=4)
    assert [len(s) for s in out.sequences] == [4, 4]
    # the tiny decoder's context is 16: a 10-token prefix leaves room for 6
    long = decode(model, kv, [[tok.sot_id] + [5] * 9] * 2, max_new_tokens=50,
                  min_new_tokens=50)
    assert [len(s) for s in long.sequences] == [6, 6]


def test_prompted_row_layout_and_answer_only_targets(tokenizer_path):
    from mammut_det.text import BPETokenizer
    tok = BPETokenizer(tokenizer_path, context_length=16)
    q, a = tok.encode_batch(['a red circle'])[0], tok.encode_batch(['two stars'])[0]
    row, n = prompted_row(tok, 'a red circle', 'two stars')
    assert row == [tok.sot_id, *q, *a, tok.eot_id] and n == 1 + len(q)
    prefix, n2 = prompted_row(tok, 'a red circle', None)
    assert prefix == row[:n] and n2 == n
    empty, n3 = prompted_row(tok, '', 'two stars')
    assert empty == [tok.sot_id, *a, tok.eot_id] and n3 == 1
    # the prompt keeps half the context (8 ids) whatever the answer: its length never tells it
    for answer in ('two stars', 'a red circle', 'a'):
        row, n = prompted_row(tok, 'a small purple cross next to a big red circle', answer)
        assert n == 9 and row[1:n] == tok.encode_batch([
            'a small purple cross next to a big red circle'])[0][:8]
    long, _ = prompted_row(tok, 'a', 'a small purple cross next to a big red circle ' * 3)
    assert len(long) == 16 and long[-1] == tok.eot_id
    assert len(prompted_row(tok, 'a red circle ' * 20, None, max_prompt_tokens=14)[0]) == 15

def test_target_mask_keeps_a_real_token_equal_to_the_pad_id():
    """CLIP pads with id 0, which is also "!": the answer's "!" stays a target, the pads after
    the end token do not, nor does the prompt."""
    sot, eot = 49406, 49407
    tokens = torch.tensor([[sot, 5, 6, 0, eot, 0, 0],   # prompt "5", answer "6 !"
                           [sot, 7, 8, 9, 0, 0, eot]])  # prompt "7 8", answer "9 ! !"
    mask = target_mask(tokens, torch.tensor([2, 3]), eot)
    # targets are tokens[:, 1:]: row 0 [5, 6, 0, eot, 0, 0], row 1 [7, 8, 9, 0, 0, eot]
    assert mask.tolist() == [[False, True, True, True, False, False],
                             [False, False, True, True, True, True]]


def test_generator_loss_covers_only_the_answer_tokens(tiny_cfg):
    """The loss equals the mean cross-entropy of the answer ids and the end token computed from
    the full causal pass; changing the question changes it only through the conditioning."""
    cfg = dict(tiny_cfg, type='MaMMUTGenerator', prompt='{question}', target_key='answer')
    model = MODELS.build(cfg).eval()
    tok = model.tokenizer
    samples = [BaseDataElement(metainfo=dict(question='a red circle', answer='two stars')),
               BaseDataElement(metainfo=dict(question='blue', answer='a small purple cross'))]
    images = torch.randn(2, 3, 32, 32)
    loss = model.loss(images, samples)['loss_caption']
    kv = model.image_kv(model.visual(images)[1])
    total, count = 0.0, 0
    for i, s in enumerate(samples):
        q = tok.encode_batch([s.question])[0]
        a = tok.encode_batch([s.answer])[0] + [tok.eot_id]
        row = torch.tensor([[tok.sot_id, *q, *a]])
        logp = model.text.generate_logits(row[:, :-1], kv[i:i + 1]).log_softmax(-1)[0]
        for j, target in enumerate(a):  # answer token j sits at 1 + len(q) + j
            total -= logp[len(q) + j, target].item()
            count += 1
    assert loss.item() == pytest.approx(total / count, rel=1e-5)


def test_generator_predicts_after_the_prompt(tiny_cfg):
    cfg = dict(tiny_cfg, type='MaMMUTGenerator', prompt='{question}', target_key='answer',
               pred_key='pred_answer', generation=dict(max_new_tokens=3))
    model = MODELS.build(cfg).eval()
    samples = [BaseDataElement(metainfo=dict(question='a red circle')),
               BaseDataElement(metainfo=dict(question='two yellow stars'))]
    out = model.predict(torch.randn(2, 3, 32, 32), samples)
    assert all(isinstance(s.pred_answer, str) for s in out)
    with pytest.raises(KeyError, match='question'):
        model.predict(torch.randn(1, 3, 32, 32), [BaseDataElement(metainfo=dict(caption='x'))])
