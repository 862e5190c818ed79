"""What the frozen pretrained VLM tower costs: ``vlm_score.source='pretrained'`` (a frozen copy of
the image tower pooled for the VLM score) against ``'backbone'`` (the fine-tuned backbone's map,
the baseline), and F-VLM's frozen backbone beside them, on the B/16 detector (random weights).

    python benchmarks/vlm_tower_cost.py [--size 1024] [--iters 1] [--threads N]

Printed as ratios to the baseline, all measured on this machine in this run:

- training-state memory: parameters, gradients and AdamW's two moments of what is trained, plus
  the parameters of what is frozen (counted exactly from the built models);
- checkpoint size: bytes of the detector's state dict written with ``torch.save``;
- peak memory: the peak resident set size of a child process that builds the detector and runs
  one test image, or one training step (the same start-up in every child);
- time: seconds per test image and per training step, the settings interleaved, median of
  ``--iters`` after a warm-up.

The vocabulary is 20 LVIS classes (the VLM score's cost hardly depends on it); the tokenizer is
CLIP's when open_clip_torch is installed, else a byte-level BPE trained on the LVIS prompts.
"""
from __future__ import annotations

import argparse
import io
import json
import os.path as osp
import statistics
import subprocess
import sys
import tempfile
import time

import torch

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from detector_speed import build_detector, clip_or_stand_in_tokenizer  # noqa: E402

from mammut_det.detection import lvis_v1_classes  # noqa: E402

CONFIG = 'mammut-b16_ovd_lvis-v1-base_1024.py'
#: name -> (vlm_score.source, backbone.frozen_stages or None to keep the preset's)
SETTINGS = {'backbone': ('backbone', None), 'pretrained': ('pretrained', None),
            'frozen': ('pretrained', 12)}
BASELINE = 'backbone'


def build(setting: str, tokenizer: dict, workdir: str):
    """The B/16 detector of ``setting``, seeded, with a 20-class vocabulary (15 seen)."""
    source, frozen = SETTINGS[setting]
    options = {'model.vlm_score.source': source}
    if frozen is not None:
        options['model.backbone.frozen_stages'] = frozen
    torch.manual_seed(0)
    detector = build_detector(CONFIG, tokenizer, workdir, options)
    names = lvis_v1_classes()[:20]
    detector.set_vocabulary(names, seen_classes=names[:15])
    return detector


def batch(size: int, train: bool):
    """One image [1, 3, size, size] and its data sample (two boxes of seen classes if train)."""
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    meta = dict(img_shape=(size, size), ori_shape=(size, size), scale_factor=(1.0, 1.0),
                batch_input_shape=(size, size), pad_shape=(size, size), img_id=0)
    sample = DetDataSample(metainfo=meta)
    if train:
        s = size / 8
        sample.gt_instances = InstanceData(
            bboxes=torch.tensor([[s, s, 4 * s, 3 * s], [2 * s, 4 * s, 7 * s, 7 * s]]),
            labels=torch.tensor([0, 3]))
    return torch.randn(1, 3, size, size), [sample]


def make_ops(detector, size: int) -> dict:
    """``test``: one image through ``predict``; ``train``: forward, backward, AdamW step."""
    trained = [p for p in detector.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(trained, lr=1e-5)
    test_in, train_in = batch(size, train=False), batch(size, train=True)

    def test() -> None:
        detector.eval()
        with torch.no_grad():
            detector(*test_in, mode='predict')

    def train() -> None:
        detector.train()
        optim.zero_grad()
        detector.parse_losses(detector(*train_in, mode='loss'))[0].backward()
        optim.step()
    return dict(test=test, train=train)


def state_bytes(detector) -> dict:
    trained = sum(p.numel() * p.element_size() for p in detector.parameters() if p.requires_grad)
    frozen = sum(p.numel() * p.element_size() for p in detector.parameters()
                 if not p.requires_grad)
    buffer = io.BytesIO()
    torch.save(detector.state_dict(), buffer)
    return dict(training_state=4 * trained + frozen, checkpoint=buffer.tell(),
                trained_params=trained // 4, frozen_params=frozen // 4)


def child(setting: str, op: str, tokenizer: dict, workdir: str, size: int) -> None:
    """Build, run ``op`` once, print the peak resident memory (bytes) as JSON: ``VmHWM``, the
    high-water mark of this process image (``ru_maxrss`` would carry the parent's over exec)."""
    detector = build(setting, tokenizer, workdir)
    make_ops(detector, size)[op]()
    status = dict(line.split(':', 1) for line in open('/proc/self/status'))
    print(json.dumps(dict(peak=int(status['VmHWM'].split()[0]) * 1024)))


def peak_memory(setting: str, op: str, args, tokenizer: dict, workdir: str) -> int:
    cmd = [sys.executable, __file__, '--child', setting, op, '--size', str(args.size),
           '--tokenizer', json.dumps(tokenizer), '--workdir', workdir]
    if args.threads:
        cmd += ['--threads', str(args.threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])['peak']


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--size', type=int, default=1024, help='image side in pixels')
    parser.add_argument('--iters', type=int, default=1, help='timed runs per setting and op')
    parser.add_argument('--threads', type=int, default=None, help='torch threads')
    parser.add_argument('--child', nargs=2, help=argparse.SUPPRESS)
    parser.add_argument('--tokenizer', help=argparse.SUPPRESS)
    parser.add_argument('--workdir', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child:
        child(*args.child, json.loads(args.tokenizer), args.workdir, args.size)
        return
    work = tempfile.mkdtemp(prefix='vlm_tower_cost_')
    tokenizer, tok_name = clip_or_stand_in_tokenizer(work)
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads; B/16 detector at '
          f'{args.size} px, 20 classes, {tok_name}; ratios to source={BASELINE!r}')

    models = {name: build(name, tokenizer, work) for name in SETTINGS}
    sizes = {name: state_bytes(m) for name, m in models.items()}
    ops = {name: make_ops(m, args.size) for name, m in models.items()}
    times: dict[tuple[str, str], list[float]] = {}
    for op in ('test', 'train'):
        for name in SETTINGS:
            ops[name][op]()  # warm-up
        for _ in range(args.iters):
            for name in SETTINGS:
                start = time.perf_counter()
                ops[name][op]()
                times.setdefault((name, op), []).append(time.perf_counter() - start)
    del models, ops
    peaks = {(name, op): peak_memory(name, op, args, tokenizer, work)
             for name in SETTINGS for op in ('test', 'train')}

    med = {key: statistics.median(v) for key, v in times.items()}
    for name in SETTINGS:
        s, base = sizes[name], sizes[BASELINE]

        def ratio(table: dict, op: str, name: str = name) -> str:
            return f'x{table[name, op] / table[BASELINE, op]:.3f}'
        print(f'{name:>10}: {s["trained_params"] / 1e6:.1f}M trained + '
              f'{s["frozen_params"] / 1e6:.1f}M frozen parameters; '
              f'training state x{s["training_state"] / base["training_state"]:.3f}, '
              f'checkpoint x{s["checkpoint"] / base["checkpoint"]:.3f}; peak memory test '
              f'{ratio(peaks, "test")}, train {ratio(peaks, "train")}; time per test image '
              f'{med[name, "test"]:.2f} s ({ratio(med, "test")}), per training step '
              f'{med[name, "train"]:.2f} s ({ratio(med, "train")})')

if __name__ == '__main__':
    main()
