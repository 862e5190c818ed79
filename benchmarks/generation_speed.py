"""Speed-up of decoding with the key/value cache over rerunning the whole pass each step.

    python benchmarks/generation_speed.py [--preset b16] [--batch 8 32] [--new-tokens 30] \
        [--beams 3] [--repeats 3] [--threads N]

Builds the preset's MaMMUT (random weights; ``configs/_base_/models/mammut_b16.py`` by default),
encodes a batch of images once (for each ``--batch``), then decodes exactly ``--new-tokens``
tokens after a one-token prefix (the end token is held back, so every run does the same work),
greedily and with beams, with the cache (:class:`~mammut_det.generation.CachedStepper`: one new
token through the decoder per step, the image's cross-attention keys and values computed once)
and without (:class:`~mammut_det.generation.FullStepper`: the training pass over the whole
prefix, image keys and values projected again, every step). The two are interleaved in one
process; it prints the median seconds of each, their ratio, whether their tokens agree, and the
ratio with the image encoder's time added to both sides.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch
from mmengine.config import Config
from mmengine.registry import MODELS

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import mammut_det  # noqa: E402,F401
from mammut_det.generation import GenerationConfig, generate  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRESETS = {'tiny': 'mammut_tiny.py', 'b16': 'mammut_b16.py', 'l14': 'mammut_l14.py'}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--preset', choices=sorted(PRESETS), default='b16')
    parser.add_argument('--batch', type=int, nargs='+', default=[8, 32], help='batch sizes')
    parser.add_argument('--new-tokens', type=int, default=30)
    parser.add_argument('--beams', type=int, default=3, help='beam size of the beam search runs')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--threads', type=int, default=None, help='torch threads (CPU)')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    return parser.parse_args()


def timed(fn, device: str):
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    return time.perf_counter() - start, out


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', '_base_', 'models', PRESETS[args.preset]))
    if cfg.model.tokenizer.type == 'BPETokenizer':  # the toy vocabulary file may be absent
        cfg.model.tokenizer = dict(type='CLIPTokenizer',
                                   context_length=cfg.model.text.context_length)
        cfg.model.text.vocab_size = 49408
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).to(args.device).eval()
    tok = model.tokenizer
    size = cfg.model.vision.img_size
    print(f'preset {args.preset}: decoder {cfg.model.text.depth} layers x '
          f'{cfg.model.text.width}, vocabulary {cfg.model.text.vocab_size}; '
          f'{args.new_tokens} new tokens, device {args.device}, {torch.get_num_threads()} threads')
    for batch in args.batch:
        images = torch.randn(batch, 3, size, size, device=args.device)
        with torch.no_grad():
            encode_s, kv = timed(lambda x=images: model.image_kv(model.visual(x)[1]),
                                 args.device)
        print(f'batch {batch}: image encoder once {encode_s:.3f} s')
        for beams in (1, args.beams):
            compare(model, kv, [[tok.sot_id]] * batch, beams, encode_s, args)


def compare(model, kv, prefixes, beams: int, encode_s: float, args) -> None:
    """Time cached and uncached decoding, interleaved, and print their ratio."""
    tok = model.tokenizer
    times = {True: [], False: []}
    tokens = {}
    for _ in range(args.repeats):
        for cached in (True, False):
            gcfg = GenerationConfig(num_beams=beams, max_new_tokens=args.new_tokens,
                                    min_new_tokens=args.new_tokens, use_cache=cached)
            sec, out = timed(lambda c=gcfg: generate(
                model.text, kv, prefixes, c, tok.eot_id, tok.pad_id, [tok.sot_id]), args.device)
            times[cached].append(sec)
            tokens[cached] = out.sequences
    cached_s, full_s = (statistics.median(times[c]) for c in (True, False))
    name = 'greedy' if beams == 1 else f'beam search, {beams} beams'
    print(f'  {name}: cached {cached_s:.3f} s, uncached {full_s:.3f} s, speed-up '
          f'{full_s / cached_s:.1f}x (with the image encoder: '
          f'{(full_s + encode_s) / (cached_s + encode_s):.1f}x); same tokens: '
          f'{tokens[True] == tokens[False]}')

if __name__ == '__main__':
    main()
