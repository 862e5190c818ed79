"""Check the GPU paths of mammut_det on this machine, each against the CPU.

    bash tools/check_gpu.sh [--preset b16|tiny] [--repeats 3]

1. the two-pass training step of MaMMUT (B/16 preset, CLIP tokenizer, batch 8 at 224 px):
   forward, backward, AdamW; the first step's losses must agree with the CPU's;
2. mmcv's CUDA RoIAlign and NMS against their CPU results, then a forward (predict) of the
   open-vocabulary detector (configs/detection, B/16 at 1024 px), which runs both;
3. decord decoding of a generated mp4 with a ``decord.gpu(0)`` context; decord built without CUDA
   (PyPI's wheel is) falls back to its CPU decoder with a message.

Prints the seconds on the CPU, on the GPU and the speed-up for each. Exits 2 when no GPU is
found, 1 when a check fails.
"""
from __future__ import annotations

import argparse
import copy
import os
import os.path as osp
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import BaseDataElement

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
import mammut_det  # noqa: E402,F401  (registers every module, applies compat)
from mammut_det.text import BPETokenizer  # noqa: E402
from mammut_det.video.toy import render_moving_clip, write_mp4  # noqa: E402

#: preset -> (pretraining model config, batch, detector config, detector image side)
PRESETS = {
    'b16': ('mammut_b16.py', 8, 'mammut-b16_ovd_lvis-v1-base_1024.py', 1024),
    'tiny': ('mammut_tiny.py', 8, 'mammut-tiny_ovd_toy-lvis.py', 128),
}
WORDS = ['red', 'green', 'blue', 'circle', 'square', 'star', 'small', 'large', 'photo', 'dog',
         'cat', 'a', 'of', 'the', 'on', 'table', 'next', 'to', 'street', 'sky']
VOCABULARY = ['person', 'dog', 'cat', 'car', 'bicycle', 'traffic light', 'chair', 'cup',
              'umbrella', 'red circle']


class CheckFailed(RuntimeError):
    """A GPU result differs from the CPU's, or a GPU path does not run."""


@dataclass
class Timing:
    """Median seconds of one run of ``what`` on the CPU and on the GPU."""

    what: str
    cpu: float
    gpu: float
    note: str = ''

    def line(self) -> str:
        return (f'{self.what}: CPU {self.cpu:.4f} s, GPU {self.gpu:.4f} s, speed-up '
                f'{self.cpu / self.gpu:.1f}x' + (f' ({self.note})' if self.note else ''))


def median_seconds(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs after one warm-up run."""
    def run() -> float:
        start = time.perf_counter()
        fn()
        if device.type == 'cuda':
            torch.cuda.synchronize(device)
        return time.perf_counter() - start

    run()
    return statistics.median(run() for _ in range(repeats))


def captions(n: int, seed: int) -> list[str]:
    g = torch.Generator().manual_seed(seed)
    return [' '.join(WORDS[i] for i in torch.randint(len(WORDS), (int(k),), generator=g))
            for k in torch.randint(6, 16, (n,), generator=g)]


def tokenizer_for(preset: str, context_length: int, workdir: str) -> dict | None:
    """``None`` (the preset's own: CLIP's BPE for B/16), or a BPE trained here for the tiny
    preset, whose configured tokenizer file belongs to the toy data."""
    if preset != 'tiny':
        return None
    path = osp.join(workdir, 'tokenizer.json')
    if not osp.isfile(path):
        texts = captions(500, 0) + [f'a photo of a {w}.' for w in VOCABULARY]
        BPETokenizer.train(texts, vocab_size=400, save_path=path, context_length=context_length)
    return dict(type='BPETokenizer', path=path, context_length=context_length)


def check_two_pass_step(device: torch.device, preset: str, repeats: int, workdir: str
                        ) -> Timing:
    """One MaMMUT training step with both passes on the CPU and on ``device``, same weights and
    inputs; the first step's losses must agree."""
    from mmengine.registry import MODELS
    model_file, batch, _, _ = PRESETS[preset]
    cfg = Config.fromfile(osp.join(ROOT, 'configs', '_base_', 'models', model_file))
    tokenizer = tokenizer_for(preset, cfg.model.text.context_length, workdir)
    if tokenizer is not None:
        cfg.model.tokenizer = tokenizer
    torch.manual_seed(0)
    models = {'cpu': MODELS.build(cfg.model)}
    models['gpu'] = copy.deepcopy(models['cpu']).to(device)
    size = cfg.model.vision.img_size
    images = torch.randn(batch, 3, size, size)
    samples = [BaseDataElement(metainfo=dict(caption=c)) for c in captions(batch, 1)]
    weights = dict(contrastive=1.0, generative=1.0)
    seconds, first = {}, {}
    for side, dev in (('cpu', torch.device('cpu')), ('gpu', device)):
        model = models[side]
        optim = torch.optim.AdamW(model.parameters(), lr=1e-5)
        x = images.to(dev)

        def step(model=model, optim=optim, x=x) -> dict:
            model.set_pass_schedule(('contrastive', 'generative'), weights)
            optim.zero_grad(set_to_none=True)
            losses = model.loss(x, samples)
            sum(v for k, v in losses.items() if k.startswith('loss')).backward()
            optim.step()
            return losses

        first[side] = {k: float(v.detach()) for k, v in step().items() if k.startswith('loss')}
        runs = repeats if side == 'gpu' else max(1, repeats // 2)
        seconds[side] = median_seconds(step, dev, runs)
    for key, value in first['cpu'].items():
        if abs(first['gpu'][key] - value) > 1e-2 * max(1.0, abs(value)):
            raise CheckFailed(f'two-pass step: {key} is {first["gpu"][key]:.5f} on {device} and '
                              f'{value:.5f} on the CPU')
    losses = ', '.join(f'{k} {v:.4f}' for k, v in first['cpu'].items())
    return Timing(f'two-pass step (MaMMUT {preset}, batch {batch}, {size} px)', seconds['cpu'],
                  seconds['gpu'], f'first step on both: {losses}')


def check_mmcv_ops(device: torch.device) -> None:
    """mmcv's NMS and RoIAlign on ``device`` give the CPU's results."""
    from mmcv.ops import nms, roi_align
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(300, 2, generator=g) * 200
    boxes = torch.cat([xy, xy + 10 + torch.rand(300, 2, generator=g) * 40], 1)
    scores = torch.rand(300, generator=g)
    feats = torch.randn(2, 16, 64, 64, generator=g)
    rois = torch.cat([torch.randint(0, 2, (100, 1), generator=g).float(), boxes[:100]], 1)
    try:
        keep_dev = nms(boxes.to(device), scores.to(device), 0.5)[1].cpu()
        pooled_dev = roi_align(feats.to(device), rois.to(device), (7, 7), 0.25, 2, 'avg',
                               True).cpu()
    except (RuntimeError, NotImplementedError) as e:
        raise CheckFailed(f'mmcv ops on {device}: {str(e).splitlines()[0]} (mmcv needs its CUDA '
                          'ops: a prebuilt CUDA wheel, or a build with FORCE_CUDA=1)') from e
    keep_cpu = nms(boxes, scores, 0.5)[1]
    pooled_cpu = roi_align(feats, rois, (7, 7), 0.25, 2, 'avg', True)
    if not torch.equal(keep_dev, keep_cpu):
        raise CheckFailed(f'mmcv NMS keeps {keep_dev.numel()} boxes on {device}, '
                          f'{keep_cpu.numel()} on the CPU')
    diff = (pooled_dev - pooled_cpu).abs().max().item()
    if diff > 1e-4:
        raise CheckFailed(f'mmcv RoIAlign differs between {device} and the CPU by {diff:.2e}')


def check_detector_forward(device: torch.device, preset: str, repeats: int, workdir: str
                           ) -> Timing:
    """mmcv's ops on ``device`` against the CPU, then the detector's predict forward (RPN, NMS,
    RoIAlign, open-vocabulary head) on both."""
    from mmdet.registry import MODELS
    from mmdet.structures import DetDataSample
    check_mmcv_ops(device)
    _, _, config, size = PRESETS[preset]
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'detection', config))
    tokenizer = tokenizer_for(preset, cfg.model.class_embedder.text.context_length, workdir)
    if tokenizer is not None:
        cfg.model.class_embedder.tokenizer = tokenizer
    cfg.model.class_embedder.cache_dir = osp.join(workdir, 'embeddings')
    cfg.model.vocabulary = VOCABULARY
    for key in ('backbone', 'class_embedder'):
        cfg.model[key].pop('init_cfg', None)
    init_default_scope('mmdet')
    torch.manual_seed(0)
    detector = MODELS.build(cfg.model).eval()
    meta = dict(img_shape=(size, size), ori_shape=(size, size), scale_factor=(1.0, 1.0),
                batch_input_shape=(size, size), pad_shape=(size, size), img_id=0)
    image = torch.randn(1, 3, size, size)
    seconds = {}
    for side, dev in (('cpu', torch.device('cpu')), ('gpu', device)):
        model = detector if side == 'cpu' else copy.deepcopy(detector).to(dev)
        x = image.to(dev)

        def forward(model=model, x=x) -> list:
            with torch.no_grad():
                return model(x, [DetDataSample(metainfo=meta)], mode='predict')

        seconds[side] = median_seconds(forward, dev, repeats if side == 'gpu' else 1)
    return Timing(f'detector forward ({config}, {size} px, {len(VOCABULARY)} classes)',
                  seconds['cpu'], seconds['gpu'], "mmcv's NMS and RoIAlign match the CPU's")


def check_decord(device: torch.device, repeats: int, workdir: str) -> Timing:
    """Decode every frame of a generated 64-frame 256 px mp4 with decord on the CPU and with a
    ``decord.gpu`` context; without decord's CUDA build the GPU side is its CPU decoder again."""
    import decord
    path = osp.join(workdir, 'clip.mp4')
    write_mp4(path, render_moving_clip(True, np.random.default_rng(0), num_frames=64, size=256))

    def decode(ctx) -> np.ndarray:
        reader = decord.VideoReader(path, ctx=ctx)
        return reader.get_batch(list(range(len(reader)))).asnumpy()

    cpu_frames = decode(decord.cpu(0))
    gpu_ctx, note = decord.cpu(0), ''
    if device.type == 'cuda':
        gpu_ctx = decord.gpu(device.index or 0)
        try:
            gpu_frames = decode(gpu_ctx)
        except Exception as e:  # decord raises DECORDError (a RuntimeError) or its own types
            gpu_ctx = decord.cpu(0)
            note = (f'decord {decord.__version__} cannot decode on the GPU '
                    f'({str(e).splitlines()[0].strip()}); it was probably built without CUDA, '
                    "as PyPI's wheel is: build decord with -DUSE_CUDA=ON for GPU decoding. "
                    'GPU column = CPU decoder')
            print(f'check_gpu: {note}', flush=True)
        else:
            diff = np.abs(gpu_frames.astype(np.int16) - cpu_frames).mean()
            if gpu_frames.shape != cpu_frames.shape or diff > 4:
                raise CheckFailed(f'decord on the GPU gives frames {gpu_frames.shape} differing '
                                  f'from the CPU\'s {cpu_frames.shape} by {diff:.2f} on average')
            note = f'frames agree with the CPU decoder, mean abs difference {diff:.2f}'
    seconds = {side: median_seconds(lambda ctx=ctx: decode(ctx), torch.device('cpu'), repeats)
               for side, ctx in (('cpu', decord.cpu(0)), ('gpu', gpu_ctx))}
    return Timing(f'decord decoding ({len(cpu_frames)} frames, 256 px mp4v)', seconds['cpu'],
                  seconds['gpu'], note)


def run_checks(device: torch.device, preset: str, repeats: int) -> list[str]:
    """Run every check; returns the failures (empty when all passed)."""
    failures = []
    with tempfile.TemporaryDirectory(prefix='check_gpu_') as workdir:
        checks = [lambda: check_two_pass_step(device, preset, repeats, workdir),
                  lambda: check_detector_forward(device, preset, repeats, workdir),
                  lambda: check_decord(device, repeats, workdir)]
        for check in checks:
            try:
                print(check().line(), flush=True)
            except Exception as e:  # report every check, then fail
                traceback.print_exc()
                failures.append(f'{type(e).__name__}: {e}')
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--preset', choices=list(PRESETS), default='b16',
                        help='model size (tiny: a quick look at the same paths)')
    parser.add_argument('--repeats', type=int, default=3, help='timed runs (median printed)')
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print(f'check_gpu: no GPU found: torch.cuda.is_available() is False (torch '
              f'{torch.__version__}, CUDA build: {torch.version.cuda or "none"}); nothing was '
              'checked. Run it on a machine with an NVIDIA GPU, in an environment made by '
              'tools/install.sh --cuda-prebuilt or --cuda-source (README, "GPU").',
              file=sys.stderr)
        return 2
    device = torch.device('cuda', torch.cuda.current_device())
    print(f'torch {torch.__version__} (CUDA {torch.version.cuda}), '
          f'{torch.cuda.get_device_name(device)}, {torch.get_num_threads()} CPU threads, '
          f'{os.cpu_count()} CPUs', flush=True)
    failures = run_checks(device, args.preset, args.repeats)
    if failures:
        print('check_gpu: FAILED:\n  ' + '\n  '.join(failures), file=sys.stderr)
        return 1
    print('check_gpu: all GPU paths work')
    return 0


if __name__ == '__main__':
    sys.exit(main())
