"""Memory per device of one MaMMUT pretraining step: measured on the CPU for the tiny and B/16
presets, computed for B/16, the ablation B/16 (128M decoder), L/14 and H/14.

    python benchmarks/pretrain_memory.py [--measure tiny b16] [--batch 4] [--compute b16 l14 h14]
        [--devices 8] [--per-device-batch b16=256 l14=128 h14=64]

Every caption is the full 64 tokens (the paper's text length; the worst case), images 224 px.

Measured: a fresh process builds the model and AdamW, runs two training steps (both passes,
backward, optimizer step; the second with AdamW's states and the gradients held) at ``--batch``
and reports its peak resident memory (``ru_maxrss``) over the resident memory before the model
was built; with and without ``with_cp``.

Computed, per device, for the strategies of ``configs/_base_/strategies`` on ``--devices``:
- weights, gradients and AdamW's two moments, float32, ``N`` parameters: DDP ``16 N`` bytes;
  FSDP (FULL_SHARD) ``16 N / W``; DeepSpeed ZeRO-2 ``4 N`` (weights) ``+ 12 N / W``.
- activations: the bytes autograd keeps for the backward pass (saved-tensor hooks, distinct
  storages, parameters left out), taken on the CPU at batches 1 and 2 for stacks of 1 and 2
  image blocks and 2 and 4 decoder layers, and extended linearly to the preset's depth and to
  the batch (the image-text logit matrix, quadratic in the batch, is given apart: it depends on
  the number of processes). ``bf16`` is the same under ``torch.autocast(bfloat16)``. With
  ``with_cp`` only each block's input is kept, plus one block's activations while it is
  recomputed.
The B/16 rows of both tables show how the computed numbers compare with a measured step.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile

import torch
from mmengine.config import Config
from mmengine.registry import MODELS
from mmengine.structures import BaseDataElement

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import mammut_det  # noqa: E402,F401
from mammut_det.models.losses import focal_contrastive_loss  # noqa: E402
from mammut_det.text import BPETokenizer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS_DIR = os.path.join(ROOT, 'configs', '_base_', 'models')
CONTEXT = 64
#: preset -> (model config, changes to its text decoder)
PRESETS = {
    'tiny': ('mammut_tiny.py', {}),
    'b16': ('mammut_b16.py', {}),
    'b16_dec128m': ('mammut_b16.py', dict(width=768, num_heads=12)),
    'l14': ('mammut_l14.py', {}),
    'h14': ('mammut_h14.py', {}),
}
GB = 1024 ** 3


def model_cfg(preset: str, tmp: str, with_cp: bool = False,
              depths: tuple[int, int] | None = None) -> Config:
    """The preset's MaMMUT config with 64-token captions and a small BPE tokenizer (the
    decoder keeps its vocabulary size, so the LM head is the preset's)."""
    cfg_file, text = PRESETS[preset]
    cfg = Config.fromfile(os.path.join(MODELS_DIR, cfg_file)).model
    context = cfg.text.context_length if preset == 'tiny' else CONTEXT
    cfg.text.update(text, context_length=context, with_cp=with_cp)
    cfg.vision.with_cp = with_cp
    if depths is not None:
        cfg.vision.depth, cfg.text.depth = depths
    path = os.path.join(tmp, f'tokenizer_{context}.json')
    if not os.path.exists(path):
        words = 'a red green blue circle square photo of the dog cat on table next to sky'.split()
        texts = [' '.join(words[(i * 7 + j) % len(words)] for j in range(3 + i % 9))
                 for i in range(500)]
        BPETokenizer.train(texts, vocab_size=300, save_path=path, context_length=context)
    cfg.tokenizer = dict(type='BPETokenizer', path=path, context_length=context)
    return cfg


def batch(model, size: int) -> tuple[torch.Tensor, list[BaseDataElement]]:
    """Random images and full-length random captions (start ... end, ``context_length``)."""
    tok, length = model.tokenizer, model.text.context_length
    g = torch.Generator().manual_seed(0)
    images = torch.randn(size, 3, model.visual.grid[0] * model.visual.patch_size,
                         model.visual.grid[1] * model.visual.patch_size, generator=g)
    ids = torch.randint(3, tok.vocab_size - 3, (size, length), generator=g)
    ids[:, 0], ids[:, -1] = tok.sot_id, tok.eot_id
    ids[ids == tok.eot_id] = 3
    ids[:, -1] = tok.eot_id
    return images, [BaseDataElement(text_tokens=row) for row in ids]


def rss_bytes() -> int:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


def measure(preset: str, size: int, with_cp: bool) -> dict:
    """One training step in this process: peak resident memory over the memory before the
    model was built."""
    torch.set_num_threads(max(1, torch.get_num_threads()))
    with tempfile.TemporaryDirectory() as tmp:
        cfg = model_cfg(preset, tmp, with_cp)
        before = rss_bytes()
        model = MODELS.build(cfg).train()
        optim = torch.optim.AdamW(model.parameters(), lr=1e-4)
        images, samples = batch(model, size)
        model.set_pass_schedule(('contrastive', 'generative'),
                                dict(contrastive=1.0, generative=1.0))
        for _ in range(2):  # the second step runs with AdamW's states allocated
            optim.zero_grad(set_to_none=False)
            losses = model.loss(images, samples)
            sum(v for k, v in losses.items() if k.startswith('loss')).backward()
            optim.step()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    params = sum(p.numel() for p in model.parameters())
    return dict(preset=preset, batch=size, with_cp=with_cp, params=params,
                step_bytes=peak - before, peak_rss=peak)


def saved_bytes(model, size: int, bf16: bool) -> int:
    """Bytes of the tensors autograd keeps for the backward pass of ``model.loss`` (distinct
    storages, parameters excluded)."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    kept: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            kept[storage.data_ptr()] = storage.nbytes()
        return t

    images, samples = batch(model, size)
    model.set_pass_schedule(('contrastive', 'generative'), dict(contrastive=1.0, generative=1.0))
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), \
            torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
        model.loss(images, samples)
    return sum(kept.values())


def activations(preset: str, tmp: str, bf16: bool, size: int) -> dict[str, float]:
    """Saved activations of the preset at batch ``size``, without and with ``with_cp``.

    Taken at batches 1 and 2 (a per-sample part and a part that does not grow with the batch,
    such as autocast's bfloat16 copies of the weights) for three stacks: the part outside the
    blocks, one image block and one decoder unit (``cross_attn_every`` layers and a
    cross-attention block, both passes) follow, and the preset's depth is their sum."""
    full = model_cfg(preset, tmp)
    every = full.text.cross_attn_every
    stacks = ((1, every), (2, every), (2, 2 * every))
    at = {}
    for depths in stacks:
        torch.manual_seed(0)
        model = MODELS.build(model_cfg(preset, tmp, depths=depths)).train()
        one, two = saved_bytes(model, 1, bf16), saved_bytes(model, 2, bf16)
        at[depths] = (2 * one - two) + size * (two - one)
    image_block = at[stacks[1]] - at[stacks[0]]
    text_unit = at[stacks[2]] - at[stacks[1]]
    outside = at[stacks[0]] - image_block - text_unit
    units = full.text.depth // every
    itemsize = 4  # the residual stream stays float32 under autocast (float32 weights)
    tokens = model.visual.grid[0] * model.visual.grid[1] + model.visual.num_prefix_tokens
    context = full.text.context_length
    # with_cp keeps each block's input: image blocks [N, Cv]; in the generative pass decoder
    # layers and cross-attention blocks [L, Ct], in the contrastive pass layers [L, Ct]
    kept_inputs = size * itemsize * (full.vision.depth * tokens * full.vision.width
                                     + (2 * full.text.depth + units) * context * full.text.width)
    return dict(plain=outside + full.vision.depth * image_block + units * text_unit,
                with_cp=outside + kept_inputs + max(image_block, text_unit))


def contrastive_matrix_bytes(n: int = 256) -> float:
    """Saved bytes per element of the image-text logit matrix (focal loss, both directions)."""
    logits = torch.randn(n, n, requires_grad=True)
    kept: dict[int, int] = {}

    def pack(t):
        kept[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        focal_contrastive_loss(logits * 1.0)
    return sum(kept.values()) / n ** 2


def parameter_count(preset: str, tmp: str) -> int:
    with torch.device('meta'):
        model = MODELS.build(model_cfg(preset, tmp))
    return sum(p.numel() for p in model.parameters())


def run_measure(preset: str, size: int, with_cp: bool) -> dict:
    args = [sys.executable, os.path.abspath(__file__), '--one', preset, str(size)]
    if with_cp:
        args.append('--with-cp')
    out = subprocess.run(args, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--measure', nargs='*', default=['tiny', 'b16'], choices=PRESETS)
    parser.add_argument('--batch', type=int, default=4, help='batch of the measured steps')
    parser.add_argument('--compute', nargs='*', default=['b16', 'b16_dec128m', 'l14', 'h14'],
                        choices=PRESETS)
    parser.add_argument('--devices', type=int, default=8, help='processes W of FSDP/ZeRO-2')
    parser.add_argument('--per-device-batch', nargs='*',
                        default=['b16=256', 'b16_dec128m=256', 'l14=128', 'h14=64'],
                        help='preset=batch for the computed table')
    parser.add_argument('--one', nargs=2, help=argparse.SUPPRESS)
    parser.add_argument('--with-cp', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one[0], int(args.one[1]), args.with_cp)))
        return

    print(f'# measured on the CPU: training steps at batch {args.batch} (float32)')
    print('| preset | parameters | with_cp | peak RSS of the step | 16 N (weights, grads, AdamW) |')
    print('| --- | --- | --- | --- | --- |')
    measured = {}
    for preset in args.measure:
        for with_cp in (False, True):
            m = run_measure(preset, args.batch, with_cp)
            measured[(preset, with_cp)] = m
            print(f'| {preset} | {m["params"] / 1e6:.1f}M | {with_cp} | '
                  f'{m["step_bytes"] / GB:.2f} GB | {16 * m["params"] / GB:.2f} GB |')

    batches = dict(item.split('=') for item in args.per_device_batch)
    w = args.devices
    per_element = contrastive_matrix_bytes()
    print(f'\n# computed per device, {w} processes; activations at the per-device batch b')
    print('| preset | parameters | b | weights+grads+AdamW: DDP / FSDP / ZeRO-2 | '
          'activations fp32 | fp32 + with_cp | bf16 | bf16 + with_cp |')
    print('| --- | --- | --- | --- | --- | --- | --- | --- |')
    with tempfile.TemporaryDirectory() as tmp:
        for preset in args.compute:
            n = parameter_count(preset, tmp)
            b = int(batches.get(preset, args.batch))
            fp32 = activations(preset, tmp, False, b)
            bf16 = activations(preset, tmp, True, b)
            states = (16 * n, 16 * n / w, 4 * n + 12 * n / w)
            print(f'| {preset} | {n / 1e6:.0f}M | {b} | '
                  + ' / '.join(f'{s / GB:.1f}' for s in states) + ' GB | '
                  + ' | '.join(f'{a / GB:.1f} GB' for a in (fp32['plain'], fp32['with_cp'],
                                                              bf16['plain'], bf16['with_cp']))
                  + ' |')
            if (preset, False) in measured:
                small = activations(preset, tmp, False, args.batch)
                for with_cp in (False, True):
                    computed = 16 * n + small['with_cp' if with_cp else 'plain']
                    run = measured[(preset, with_cp)]
                    print(f'| check{" with_cp" if with_cp else ""} | | {args.batch} | '
                          f'16 N + activations (fp32) = {computed / GB:.2f} GB, measured '
                          f'step {run["step_bytes"] / GB:.2f} GB | | | | |')
    full, local = per_element * 16384 ** 2, per_element * 256 * 16384
    print(f'\nThe image-text logit matrix of one pass adds about {per_element:.0f} bytes per '
          f'element (focal loss, both directions, float32): the full matrix on every process '
          f'is (W b)^2 elements, {full / GB:.1f} GB at W b = 16384; with model.local_loss=True '
          f'b x W b, {local / GB:.2f} GB at b = 256.')

if __name__ == '__main__':
    main()
