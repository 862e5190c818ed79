"""Greedy and beam search over a stepper (:mod:`mammut_det.generation.steppers`), batched.

The controls are those open_clip's CoCa ``generate`` exposes for its searches: a token budget,
a minimum length before the end token may come, a repetition penalty, and for beams the number
of beams and a length penalty (CoCa's diverse beam groups and its sampling warpers are not
offered). Both searches shape the next-token logits in the same way
(:meth:`GenerationConfig.process`), so beam search with one beam is greedy search.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from ..models.text_decoder import TextDecoder
from ..text.base import BaseTokenizer
from .steppers import CachedStepper, FullStepper

Stepper = CachedStepper | FullStepper


@dataclass
class GenerationConfig:
    """How to decode.

    Attributes:
        num_beams: 1 for greedy search, more for beam search.
        max_new_tokens: tokens generated after the prefix at most (the end token included).
        min_new_tokens: the end token is forbidden until this many tokens were generated (the
            "min length"; unlike Hugging Face's ``min_length`` the prefix does not count).
        length_penalty: beam search ranks a finished hypothesis by ``sum(log p) / n **
            length_penalty``, n its generated tokens including the end token (Hugging Face's
            ``length_penalty``: 1 is the mean log-probability, 0 the plain sum, above 1 favours
            longer, below 0 shorter hypotheses).
        repetition_penalty: Hugging Face's repetition penalty (CoCa's ``repetition_penalty``)
            on the tokens this row has generated so far: their logits are divided by it when
            positive and multiplied by it when negative, so above 1 discourages a repeat and
            below 1 encourages it; 1 is off. The prefix (prompt) is not counted, so a question's
            words stay free for its answer.
        use_cache: decode with the key/value cache (``False``: rerun the whole pass each step,
            only for checks and measurements).
    """

    num_beams: int = 1
    max_new_tokens: int = 20
    min_new_tokens: int = 0
    length_penalty: float = 1.0
    repetition_penalty: float = 1.0
    use_cache: bool = True

    def __post_init__(self) -> None:
        if self.num_beams < 1 or self.max_new_tokens < 1 or self.min_new_tokens < 0:
            raise ValueError(f'GenerationConfig needs num_beams >= 1, max_new_tokens >= 1 and '
                             f'min_new_tokens >= 0, got {self}')
        if self.repetition_penalty <= 0:
            raise ValueError(f'repetition_penalty must be > 0, got {self.repetition_penalty}')

    def process(self, logits: Tensor, generated: Tensor, eot_id: int,
                banned: Sequence[int] = ()) -> Tensor:
        """Shape next-token ``logits`` [N, V] given the tokens each row generated so far,
        ``generated`` [N, t]: the repetition penalty, the end token banned while
        ``t < min_new_tokens``, and the ids ``banned`` (e.g. the start token) always."""
        logits = logits.float().clone()
        if self.repetition_penalty != 1.0 and generated.shape[1]:
            seen = logits.gather(1, generated)
            seen = torch.where(seen > 0, seen / self.repetition_penalty,
                               seen * self.repetition_penalty)
            logits.scatter_(1, generated, seen)
        if generated.shape[1] < self.min_new_tokens:
            logits[:, eot_id] = float('-inf')
        if banned:
            logits[:, list(banned)] = float('-inf')
        return logits


@dataclass
class GenerationOutput:
    """``sequences``: each input's generated ids, up to and including its end token (absent
    when the budget ran out first); ``scores``: each one's log-probability (under the shaped
    logits) and, for beams, divided by the length penalty."""

    sequences: list[list[int]]
    scores: list[float]


def _trim(row: Sequence[int], eot_id: int) -> list[int]:
    row = list(row)
    return row[:row.index(eot_id) + 1] if eot_id in row else row


def greedy_search(stepper: Stepper, prefixes: Sequence[Sequence[int]], cfg: GenerationConfig,
                  eot_id: int, pad_id: int, banned: Sequence[int] = ()) -> GenerationOutput:
    """The most likely next token at each step, for every prefix at once."""
    logits = stepper.start(prefixes)
    n = logits.shape[0]
    generated = logits.new_zeros(n, 0, dtype=torch.long)
    score = logits.new_zeros(n, dtype=torch.float)
    done = torch.zeros(n, dtype=torch.bool, device=logits.device)
    for t in range(cfg.max_new_tokens):
        logp = cfg.process(logits, generated, eot_id, banned).log_softmax(dim=-1)
        best, token = logp.max(dim=-1)
        token = torch.where(done, torch.full_like(token, pad_id), token)
        score = score + torch.where(done, torch.zeros_like(best), best)
        generated = torch.cat([generated, token[:, None]], dim=1)
        done = done | (token == eot_id)
        if bool(done.all()) or t + 1 == cfg.max_new_tokens:
            break
        logits = stepper.step(token)
    return GenerationOutput([_trim(r, eot_id) for r in generated.tolist()], score.tolist())


def beam_search(stepper: Stepper, prefixes: Sequence[Sequence[int]], cfg: GenerationConfig,
                eot_id: int, pad_id: int, banned: Sequence[int] = ()) -> GenerationOutput:
    """Beam search with ``cfg.num_beams`` beams per prefix, batched over prefixes.

    Each step every beam proposes its tokens; of the best 2K continuations of an input, an end
    token among the first K closes a hypothesis (scored with the length penalty, the best K kept)
    and the first K others are the next beams. An input is done once it has K hypotheses and its
    best beam, scored at its current length, cannot beat the worst of them (Hugging Face's
    ``early_stopping=False`` rule); its beams are then ignored. When the budget runs out, the
    open beams compete with the hypotheses. The result is the best hypothesis of each input.
    """
    k = cfg.num_beams
    first = stepper.start(prefixes)
    b, vocab = first.shape
    dev = first.device
    stepper.reorder(torch.arange(b, device=dev).repeat_interleave(k))
    logits = first.repeat_interleave(k, dim=0)
    beam_score = torch.full((b, k), float('-inf'), device=dev)
    beam_score[:, 0] = 0  # all beams start equal: let only the first one propose
    generated = torch.zeros(b * k, 0, dtype=torch.long, device=dev)
    hyp_score = torch.full((b, k), float('-inf'), device=dev)
    hyp_seq = torch.full((b, k, cfg.max_new_tokens), pad_id, dtype=torch.long, device=dev)
    done = torch.zeros(b, dtype=torch.bool, device=dev)
    rank = torch.arange(2 * k, device=dev)
    rows = torch.arange(b, device=dev)[:, None] * k
    for t in range(cfg.max_new_tokens):
        length = t + 1
        logp = cfg.process(logits, generated, eot_id, banned).log_softmax(dim=-1)
        total = (beam_score.view(-1, 1) + logp).view(b, k * vocab)
        top_score, top_index = total.topk(2 * k, dim=1)
        origin, token = top_index // vocab, top_index % vocab
        cand_seq = torch.cat([generated[rows + origin], token[..., None]], dim=-1)  # [B, 2K, t+1]
        # hypotheses: end tokens ranked among the first K, for inputs not done yet
        closes = (token == eot_id) & (rank < k) & ~done[:, None]
        cand_hyp = torch.where(closes, top_score / length ** cfg.length_penalty,
                               torch.full_like(top_score, float('-inf')))
        cand_seq = torch.nn.functional.pad(cand_seq, (0, cfg.max_new_tokens - length),
                                           value=pad_id)
        hyp_score, best = torch.cat([hyp_score, cand_hyp], dim=1).topk(k, dim=1)
        hyp_seq = torch.cat([hyp_seq, cand_seq], dim=1).gather(
            1, best[..., None].expand(-1, -1, cfg.max_new_tokens))
        # beams: the first K continuations that are not the end token
        keep = torch.where(token != eot_id, rank, rank + 2 * k).argsort(dim=1)[:, :k]
        beam_score = top_score.gather(1, keep)
        origin = (rows + origin.gather(1, keep)).view(-1)
        token = token.gather(1, keep).view(-1)
        generated = torch.cat([generated[origin], token[:, None]], dim=1)
        done = done | (hyp_score[:, -1] >= beam_score[:, 0] / length ** cfg.length_penalty)
        if bool(done.all()) or length == cfg.max_new_tokens:
            break
        stepper.reorder(origin)
        logits = stepper.step(token)
    # inputs not done: their open beams compete with the hypotheses
    open_score = torch.where(done[:, None], torch.full_like(beam_score, float('-inf')),
                             beam_score / generated.shape[1] ** cfg.length_penalty)
    open_seq = torch.nn.functional.pad(generated, (0, cfg.max_new_tokens - generated.shape[1]),
                                       value=pad_id).view(b, k, -1)
    final_score, best = torch.cat([hyp_score, open_score], dim=1).max(dim=1)
    final_seq = torch.cat([hyp_seq, open_seq], dim=1)[torch.arange(b, device=dev), best]
    return GenerationOutput([_trim(r, eot_id) for r in final_seq.tolist()],
                            final_score.tolist())


def generate(decoder: TextDecoder, image_tokens: Tensor, prefixes: Sequence[Sequence[int]],
             cfg: GenerationConfig, eot_id: int, pad_id: int,
             banned: Sequence[int] = ()) -> GenerationOutput:
    """Decode after each prefix (start token + prompt ids) of ``prefixes`` [B rows] against its
    image's cross-attention inputs ``image_tokens`` [B, S, width], greedily or with beams as
    ``cfg`` says. ``decoder`` is a :class:`~mammut_det.models.TextDecoder`; generation stops at
    its context length if ``cfg.max_new_tokens`` would run past it."""
    if len(prefixes) != image_tokens.shape[0]:
        raise ValueError(f'{len(prefixes)} prefixes for {image_tokens.shape[0]} images')
    room = decoder.context_length - max(len(p) for p in prefixes)
    if room < 1:
        raise ValueError(f'a prefix fills the context length {decoder.context_length}: no room '
                         'to generate')
    if cfg.max_new_tokens > room:
        cfg = replace(cfg, max_new_tokens=room)
    stepper_cls = CachedStepper if cfg.use_cache else FullStepper
    stepper = stepper_cls(decoder, image_tokens, cfg.max_new_tokens, pad_id)
    search = greedy_search if cfg.num_beams == 1 else beam_search
    with torch.no_grad():
        return search(stepper, prefixes, cfg, eot_id, pad_id, banned)


def generate_text(decoder: TextDecoder, tokenizer: BaseTokenizer, image_tokens: Tensor,
                  prefixes: Sequence[Sequence[int]], cfg: GenerationConfig) -> list[str]:
    """:func:`generate` with the tokenizer's special ids (the start token and any id past its
    vocabulary are never generated), decoded to text (the prefix not included)."""
    banned = [tokenizer.sot_id, *range(tokenizer.vocab_size, decoder.vocab_size)]
    out = generate(decoder, image_tokens, prefixes, cfg, tokenizer.eot_id, tokenizer.pad_id,
                   banned)
    return [tokenizer.decode(seq).strip() for seq in out.sequences]
