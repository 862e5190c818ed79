"""Cost of MaMMUT's two passes over a contrastive-only step: time, counted FLOPs and peak memory.

    python benchmarks/two_pass_overhead.py [--presets tiny b16 paper] [--lengths coco fixed]
                                           [--repeats 5]

For each preset and caption-length distribution it runs full training steps (forward, backward,
AdamW step) of the same model with both passes and with the contrastive pass alone, interleaved in
one process, and prints the median time ratio, the ratio of FLOPs counted by
``torch.utils.flop_counter`` over the same steps, and the ratio of the peak memory held by the
tensors the step creates (activations, gradients, temporaries; tracked by a dispatch mode, so it is
exact and the same on every machine). The image encoder runs once per step and the LM head only in
the generative pass, on the real target tokens; each batch is padded to its longest caption.

Presets: ``tiny`` (64 px, batch 64), ``b16`` (``configs/_base_/models/mammut_b16.py``, 224 px,
batch 8) and ``paper``, the paper's shape (the ViT-H/14 image encoder of ``mammut_h14.py`` and a
~1B-parameter decoder: width 1536, 24 layers, cross-attention after every 2nd, 224 px), built on the
meta device: its FLOPs and memory are counted, not timed. Caption lengths: ``coco`` draws the
number of tokens (start and end included) like COCO captions (most between 8 and 20, mean about
13), ``fixed`` fills the whole 77-token context.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import weakref

import torch
from mmengine.config import Config
from mmengine.registry import MODELS
from mmengine.structures import BaseDataElement
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import mammut_det  # noqa: E402,F401
from mammut_det.text import BPETokenizer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: preset -> (batch, model preset file, text decoder overrides, timed)
PRESETS = {
    'tiny': (64, 'mammut_tiny.py', {}, True),
    'b16': (8, 'mammut_b16.py', {}, True),
    'paper': (32, 'mammut_h14.py', dict(width=1408, depth=24, num_heads=16), False),
}
WORDS = ['red', 'green', 'blue', 'circle', 'square', 'star', 'small', 'large', 'photo', 'dog',
         'cat', 'a', 'of', 'the', 'on', 'table', 'next', 'to', 'street', 'sky']
MODES = {'both': dict(contrastive=1.0, generative=1.0),
         'contrastive': dict(contrastive=1.0, generative=0.0)}


def coco_lengths(n: int, g: torch.Generator) -> list[int]:
    """Tokens per caption, start and end included, shaped like COCO captions: a rounded normal
    of mean 13 and deviation 3, clipped to [8, 30] (most fall between 8 and 20)."""
    return (13 + 3 * torch.randn(n, generator=g)).round().clamp(8, 30).int().tolist()


def captions(n: int, lengths: str, context: int, seed: int) -> list[str]:
    """``n`` captions of words that are one token each, ``lengths`` as in the module docstring."""
    g = torch.Generator().manual_seed(seed)
    counts = coco_lengths(n, g) if lengths == 'coco' else [context + 8] * n
    return [' '.join(WORDS[i] for i in torch.randint(len(WORDS), (c - 2,), generator=g))
            for c in counts]


class PeakTensorMemory(TorchDispatchMode):
    """Peak bytes of the tensor storages that operators create while the mode is on; storages
    that existed before (parameters, optimizer states, inputs) are not counted."""

    def __init__(self, existing: list[torch.Tensor]) -> None:
        super().__init__()
        self.ignore = {t.untyped_storage()._cdata for t in existing}
        self.refs: dict[int, int] = {}
        self.current = self.peak = 0

    def _release(self, key: int, nbytes: int) -> None:
        self.refs[key] -= 1
        if not self.refs[key]:
            del self.refs[key]
            self.current -= nbytes

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if not isinstance(t, torch.Tensor):
                continue
            storage = t.untyped_storage()
            key, nbytes = storage._cdata, storage.nbytes()
            if key in self.ignore:
                continue
            if key not in self.refs:
                self.refs[key] = 0
                self.current += nbytes
                self.peak = max(self.peak, self.current)
            self.refs[key] += 1
            weakref.finalize(t, self._release, key, nbytes)
        return out


def build(preset: str, tmp: str, device: str):
    batch, cfg_file, text_overrides, _ = PRESETS[preset]
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', '_base_', 'models', cfg_file))
    cfg.model.text.update(text_overrides)
    ctx = cfg.model.text.context_length
    path = os.path.join(tmp, f'{preset}_tokenizer.json')
    BPETokenizer.train(captions(2000, 'coco', ctx, 0), vocab_size=400, save_path=path,
                       context_length=ctx)
    cfg.model.tokenizer = dict(type='BPETokenizer', path=path, context_length=ctx)
    with torch.device(device):
        model = MODELS.build(cfg.model)
    return model, cfg.model.vision.img_size, ctx


def step(model, optim, images, samples, weights) -> None:
    model.set_pass_schedule(('contrastive', 'generative'), weights)
    model.zero_grad(set_to_none=True)
    losses = model.loss(images, samples)
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    if optim is not None:
        optim.step()


def measure(preset: str, lengths: str, repeats: int, tmp: str) -> dict[str, float]:
    batch, _, _, timed = PRESETS[preset]
    model, size, ctx = build(preset, tmp, 'cpu' if timed else 'meta')
    device = model.logit_scale.device
    optim = torch.optim.AdamW(model.parameters(), lr=1e-4) if timed else None
    images = torch.randn(batch, 3, size, size, device=device)
    texts = captions(batch, lengths, ctx, 1)
    samples = [BaseDataElement(metainfo=dict(caption=c)) for c in texts]
    tokens = statistics.mean(len(ids) for ids in model.tokenizer.token_ids(texts))
    out = dict(batch=batch, size=size, tokens=tokens,
               params=sum(p.numel() for p in model.parameters()),
               text_params=sum(p.numel() for p in model.text.parameters()))
    for name, w in MODES.items():
        if timed:
            step(model, optim, images, samples, w)  # AdamW states exist before the measurements
        counter = FlopCounterMode(display=False)
        states = optim.state.values() if optim else []
        existing = [*model.parameters(), images,
                    *(t for state in states for t in state.values() if torch.is_tensor(t))]
        memory = PeakTensorMemory(existing)
        with counter, memory:
            step(model, optim, images, samples, w)
        out[f'flops_{name}'], out[f'mem_{name}'] = counter.get_total_flops(), memory.peak
    out.update({f'time_{name}': float('nan') for name in MODES})
    if timed:
        times = {name: [] for name in MODES}
        for _ in range(repeats):
            for name, w in MODES.items():
                t0 = time.perf_counter()
                step(model, optim, images, samples, w)
                times[name].append(time.perf_counter() - t0)
        out.update({f'time_{name}': statistics.median(v) for name, v in times.items()})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--presets', nargs='+', default=list(PRESETS), choices=list(PRESETS))
    parser.add_argument('--lengths', nargs='+', default=['coco', 'fixed'],
                        choices=['coco', 'fixed'])
    parser.add_argument('--repeats', type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads')
    print(f'{"preset":<6} {"lengths":<7} {"batch":>5} {"tokens":>6} {"both s":>8} {"con. s":>8} '
          f'{"time ratio":>10} {"FLOP ratio":>10} {"GFLOP both":>10} {"mem ratio":>9} '
          f'{"MB both":>9} {"MB con.":>9}')
    with tempfile.TemporaryDirectory() as tmp:
        for preset in args.presets:
            for lengths in args.lengths:
                r = measure(preset, lengths, args.repeats, tmp)
                if lengths == args.lengths[0]:
                    print(f'# {preset}: {r["params"] / 1e6:.1f}M parameters, text decoder '
                          f'{r["text_params"] / 1e6:.1f}M', flush=True)
                t_ratio = r['time_both'] / r['time_contrastive']
                f_ratio = r['flops_both'] / r['flops_contrastive']
                m_ratio = r['mem_both'] / r['mem_contrastive']
                print(f'{preset:<6} {lengths:<7} {r["batch"]:>5} {r["tokens"]:>6.1f} '
                      f'{r["time_both"]:>8.3f} {r["time_contrastive"]:>8.3f} {t_ratio:>10.3f} '
                      f'{f_ratio:>10.3f} {r["flops_both"] / 1e9:>10.1f} {m_ratio:>9.3f} '
                      f'{r["mem_both"] / 2**20:>9.1f} {r["mem_contrastive"] / 2**20:>9.1f}',
                      flush=True)


if __name__ == '__main__':
    main()
