"""Cost of MaMMUT's two passes over a contrastive-only step, measured against counted FLOPs.

    python benchmarks/two_pass_overhead.py [--presets tiny b16] [--repeats 5]

For each preset it times full training steps (forward, backward, AdamW step) of the same model
with both passes and with the contrastive pass alone, interleaved in one process, and prints the
median time ratio beside the ratio of FLOPs counted by ``torch.utils.flop_counter`` over the same
steps. The image encoder runs once per step and the LM head only in the generative pass, so the two
ratios should agree within about 10% wherever matrix products dominate the step.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import torch
from mmengine.config import Config
from mmengine.registry import MODELS
from mmengine.structures import BaseDataElement
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import mammut_det  # noqa: E402,F401
from mammut_det.text import BPETokenizer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRESETS = {'tiny': (64, 'mammut_tiny.py'), 'b16': (8, 'mammut_b16.py')}
WORDS = ['red', 'green', 'blue', 'circle', 'square', 'star', 'small', 'large', 'photo', 'dog',
         'cat', 'a', 'of', 'the', 'on', 'table', 'next', 'to', 'street', 'sky']


def captions(n: int, seed: int) -> list[str]:
    g = torch.Generator().manual_seed(seed)
    return [' '.join(WORDS[i] for i in torch.randint(len(WORDS), (int(n_w),), generator=g))
            for n_w in torch.randint(8, 20, (n,), generator=g)]


def build(preset: str, tmp: str):
    _, cfg_file = PRESETS[preset]
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', '_base_', 'models', cfg_file))
    ctx = cfg.model.text.context_length
    path = os.path.join(tmp, f'{preset}_tokenizer.json')
    BPETokenizer.train(captions(2000, 0), vocab_size=400, save_path=path, context_length=ctx)
    cfg.model.tokenizer = dict(type='BPETokenizer', path=path, context_length=ctx)
    model = MODELS.build(cfg.model)
    optim = torch.optim.AdamW(model.parameters(), lr=1e-4)
    return model, optim, cfg.model.vision.img_size


def step(model, optim, images, samples, weights) -> None:
    model.set_pass_schedule(('contrastive', 'generative'), weights)
    optim.zero_grad(set_to_none=True)
    losses = model.loss(images, samples)
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    optim.step()


def measure(preset: str, repeats: int, tmp: str) -> dict[str, float]:
    batch, _ = PRESETS[preset]
    model, optim, size = build(preset, tmp)
    images = torch.randn(batch, 3, size, size)
    samples = [BaseDataElement(metainfo=dict(caption=c)) for c in captions(batch, 1)]
    modes = {'both': dict(contrastive=1.0, generative=1.0),
             'contrastive': dict(contrastive=1.0, generative=0.0)}
    flops = {}
    for name, w in modes.items():
        counter = FlopCounterMode(display=False)
        with counter:
            step(model, optim, images, samples, w)
        flops[name] = counter.get_total_flops()
    times = {name: [] for name in modes}
    for _ in range(repeats):
        for name, w in modes.items():
            t0 = time.perf_counter()
            step(model, optim, images, samples, w)
            times[name].append(time.perf_counter() - t0)
    t = {name: statistics.median(v) for name, v in times.items()}
    return dict(batch=batch, size=size, t_both=t['both'], t_con=t['contrastive'],
                f_both=flops['both'], f_con=flops['contrastive'])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--presets', nargs='+', default=list(PRESETS), choices=list(PRESETS))
    parser.add_argument('--repeats', type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads')
    print(f'{"preset":<6} {"batch":>5} {"px":>4} {"both s":>8} {"con. s":>8} '
          f'{"time ratio":>10} {"FLOP ratio":>10} {"GFLOP both":>10} {"time/FLOP":>9}')
    with tempfile.TemporaryDirectory() as tmp:
        for preset in args.presets:
            r = measure(preset, args.repeats, tmp)
            t_ratio, f_ratio = r['t_both'] / r['t_con'], r['f_both'] / r['f_con']
            print(f'{preset:<6} {r["batch"]:>5} {r["size"]:>4} {r["t_both"]:>8.3f} '
                  f'{r["t_con"]:>8.3f} {t_ratio:>10.3f} {f_ratio:>10.3f} '
                  f'{r["f_both"] / 1e9:>10.1f} {t_ratio / f_ratio:>9.3f}', flush=True)


if __name__ == '__main__':
    main()
