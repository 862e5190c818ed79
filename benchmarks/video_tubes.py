"""Sparse tubes vs frame-by-frame: tokens and forward time of the MaMMUT B/16 encoder on a clip.

For one 32-frame 224 clip, with random weights of the B/16 shape in
configs/_base_/models/mammut_b16.py, compares
  * the tube backbone (frame tokens of 2 frames + 4 tube types, one pass through the blocks),
  * the same ViT run frame by frame over all 32 frames, features averaged,
  * the same ViT run frame by frame over 8 frames (every 4th), features averaged,
and prints token counts, median forward times and their ratios.

    python benchmarks/video_tubes.py [--batch 1] [--repeats 3] [--device cpu] [--threads N]
"""
from __future__ import annotations

import argparse
import os.path as osp
import statistics
import time

import torch
from mmengine.config import Config

import mammut_det  # noqa: F401  (registers the models, applies compat)
from mammut_det.video import MaMMUTTubeViT

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def median_times(fns: dict, repeats: int, device: torch.device) -> dict[str, float]:
    """Median seconds of each ``fns[name]()`` over ``repeats`` rounds after one warm-up round;
    the runs are interleaved so that load from other processes affects all of them alike."""
    def run(fn) -> float:
        start = time.perf_counter()
        fn()
        if device.type == 'cuda':
            torch.cuda.synchronize()
        return time.perf_counter() - start

    for fn in fns.values():
        run(fn)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(run(fn))
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--batch', type=int, default=1, help='clips per forward')
    parser.add_argument('--repeats', type=int, default=3, help='timed runs (median reported)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument('--clip-len', type=int, default=32)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    vision = dict(Config.fromfile(osp.join(ROOT, 'configs/_base_/models/mammut_b16.py'))
                  .model.vision)
    vision.pop('type')
    torch.manual_seed(0)
    model = MaMMUTTubeViT(clip_len=args.clip_len, **vision).eval().to(device)
    size = vision['img_size']
    t = args.clip_len
    clip = torch.randn(args.batch, 3, t, size, size, device=device)
    grid = (size // model.patch_size) ** 2 + model.num_prefix_tokens
    every_4th = list(range(0, t, 4))
    runs = {
        'tubes (one pass)': (model.num_tokens((t, size, size))['total'], lambda: model(clip)),
        f'frame by frame, {t} frames': (
            t * grid, lambda: model.forward_frames(clip, range(t))),
        f'frame by frame, {len(every_4th)} frames': (
            len(every_4th) * grid, lambda: model.forward_frames(clip, every_4th)),
    }
    counts = model.num_tokens((t, size, size))
    print(f'MaMMUT B/16 shape (width {model.width}, depth {len(model.blocks)}, patch '
          f'{model.patch_size}), clip {t}x{size}x{size}, batch {args.batch}, device {device}, '
          f'{torch.get_num_threads()} CPU threads')
    print('tube tokens: ' + ', '.join(f'{k} {v}' for k, v in counts.items()))
    print('tubes: ' + '; '.join(f'kernel {s.kernel} stride {s.stride} offset {s.offset}'
                                for s in model.tubes))
    with torch.no_grad():
        seconds = median_times({name: fn for name, (_, fn) in runs.items()}, args.repeats,
                               device)
    results = {name: (tokens, seconds[name]) for name, (tokens, _) in runs.items()}
    print(f'{"encoder run":<28}{"tokens/clip":>12}{"forward s":>12}')
    for name, (tokens, seconds) in results.items():
        print(f'{name:<28}{tokens:>12}{seconds:>12.3f}')
    tube_tokens, tube_s = results['tubes (one pass)']
    for name, (tokens, seconds) in list(results.items())[1:]:
        print(f'tubes / {name}: tokens x{tube_tokens / tokens:.3f}, time x{tube_s / seconds:.3f}')


if __name__ == '__main__':
    main()
