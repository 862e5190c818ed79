"""Speed of the open-vocabulary detector on this machine (random weights).

Measures (1) images/s of the B/16 detector at 1024 px and of the tiny one at 128 px (one image
per forward, inference with the VLM score, after a warm-up); (2) the FLOPs of one B/16 backbone
forward (linear and conv layers counted by ``torch.utils.flop_counter``, attention analytically)
and its achieved FLOP rate as a fraction of this machine's plain float32 matmul rate, measured in
the same run; (3) the time to embed all 1203 LVIS classes with the default templates through the
B/16 text decoder, uncached, and the cached lookups.

    python benchmarks/detector_speed.py [--iters 2] [--threads N]

The B/16 tokenizer is CLIP's when its vocabulary file is installed (open_clip_torch); otherwise a
byte-level BPE trained on the LVIS prompts stands in (printed, with its mean prompt length).
"""
from __future__ import annotations

import argparse
import math
import os
import os.path as osp
import sys
import tempfile
import time
from collections.abc import Callable

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import mammut_det  # noqa: E402,F401
from mammut_det.detection import DEFAULT_TEMPLATES, lvis_v1_classes  # noqa: E402
from mammut_det.detection.toy_lvis import TOY_LVIS_CLASSES  # noqa: E402
from mammut_det.detection.vocabulary import prompt_name  # noqa: E402
from mammut_det.registry import TOKENIZERS  # noqa: E402
from mammut_det.text import BPETokenizer  # noqa: E402

CONFIGS = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'configs', 'detection')


def seconds(fn: Callable[[], object], iters: int, warmup: int = 1) -> float:
    """Mean wall time of ``fn`` over ``iters`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    start = time.perf_counter()
    for _ in range(iters):
        fn()
    return (time.perf_counter() - start) / iters


def matmul_rate(n: int = 2048, iters: int = 10) -> float:
    """FLOP/s of a plain float32 [n, n] @ [n, n] matmul."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2 * n ** 3 / seconds(lambda: a @ b, iters, warmup=2)


def attention_flops(backbone, grid: tuple[int, int]) -> int:
    """FLOPs of q @ k^T and attn @ v in one forward of ``backbone`` on ``grid`` (one image);
    ``FlopCounterMode`` does not count CPU ``scaled_dot_product_attention``."""
    h, w = grid
    ws, c = backbone.window_size, backbone.width
    total = 0
    for i in range(len(backbone.blocks)):
        if backbone.uses_window(i):
            total += math.ceil(h / ws) * math.ceil(w / ws) * 4 * ws ** 4 * c
        else:
            total += 4 * (h * w) ** 2 * c
    return total


def clip_or_stand_in_tokenizer(workdir: str) -> tuple[dict, str]:
    """CLIP's tokenizer config if its vocabulary is installed, else a BPE trained on the prompts."""
    cfg = dict(type='CLIPTokenizer', context_length=77)
    try:
        TOKENIZERS.build(dict(cfg, _scope_=TOKENIZERS.scope))
        return cfg, 'CLIP BPE (49408)'
    except FileNotFoundError:
        path = osp.join(workdir, 'lvis_bpe.json')
        texts = [t.format(prompt_name(n)) for n in lvis_v1_classes() for t in DEFAULT_TEMPLATES]
        BPETokenizer.train(texts, vocab_size=4096, save_path=path)
        return dict(type='BPETokenizer', path=path, context_length=77), 'stand-in BPE (4096)'


def build_detector(config: str, tokenizer: dict, workdir: str, options: dict | None = None):
    """The detector of ``config`` (random weights, ``tokenizer``, ``options`` merged as
    ``--cfg-options``), in eval mode."""
    cfg = Config.fromfile(osp.join(CONFIGS, config))
    cfg.merge_from_dict(options or {})
    cfg.model.class_embedder.tokenizer = tokenizer
    cfg.model.class_embedder.cache_dir = osp.join(workdir, 'embeddings')
    for key in ('backbone', 'class_embedder'):
        cfg.model[key].pop('init_cfg', None)
    init_default_scope('mmdet')
    from mmdet.registry import MODELS
    return MODELS.build(cfg.model).eval()


def detector_images_per_s(detector, size: int, iters: int) -> float:
    from mmdet.structures import DetDataSample
    meta = dict(img_shape=(size, size), ori_shape=(size, size), scale_factor=(1.0, 1.0),
                batch_input_shape=(size, size), pad_shape=(size, size), img_id=0)
    image = torch.randn(1, 3, size, size)
    _ = detector.class_embeddings  # embed the vocabulary before timing

    def run():
        with torch.no_grad():
            detector(image, [DetDataSample(metainfo=meta)], mode='predict')
    return 1.0 / seconds(run, iters)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--iters', type=int, default=2, help='timed runs per measurement')
    parser.add_argument('--threads', type=int, default=None, help='torch threads')
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    work = tempfile.mkdtemp(prefix='detector_speed_')
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, '
          f'{os.cpu_count()} cpus')

    rate = matmul_rate()

    tokenizer, tok_name = clip_or_stand_in_tokenizer(work)
    b16 = build_detector('mammut-b16_ovd_lvis-v1-base_1024.py', tokenizer, work)

    image = torch.randn(1, 3, 1024, 1024)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        b16.backbone(image)
    counted = counter.get_total_flops()
    attn = attention_flops(b16.backbone, (64, 64))
    flops = counted + attn
    with torch.no_grad():
        t_bb = seconds(lambda: b16.backbone(image), args.iters)
    rate = (rate + matmul_rate()) / 2  # before and after: the machine may be shared
    print(f'B/16 backbone at 1024 (window 14, 4 global blocks): {flops / 1e9:.1f} GFLOP '
          f'({counted / 1e9:.1f} counted in linear/conv + {attn / 1e9:.1f} attention), '
          f'{t_bb:.2f} s -> {flops / t_bb / 1e9:.1f} GFLOP/s = {flops / t_bb / rate:.1%} of the '
          f'matmul rate ({rate / 1e9:.1f} GFLOP/s, mean of before and after)')

    # class embeddings of the 1203 LVIS classes, uncached then cached
    names = lvis_v1_classes()
    embedder = b16.class_embedder
    prompts = [t.format(prompt_name(n)) for n in names[:200] for t in embedder.templates]
    lengths = embedder.tokenizer.real_mask(embedder.tokenizer(prompts)).sum(1).float()
    start = time.perf_counter()
    emb = embedder(names)
    t_text = time.perf_counter() - start
    start = time.perf_counter()
    embedder(names)
    t_mem = time.perf_counter() - start
    embedder.reset_cache()
    start = time.perf_counter()
    embedder(names)
    t_disk = time.perf_counter() - start
    print(f'class embeddings, {len(names)} LVIS classes x {len(embedder.templates)} templates '
          f'({tok_name}, {lengths.mean():.1f} tokens/prompt): {t_text:.1f} s uncached -> '
          f'{tuple(emb.shape)}; cached: {t_mem * 1e3:.1f} ms in memory, {t_disk * 1e3:.0f} ms '
          'from disk (weights hash included)')

    b16.set_vocabulary(names)
    ips = detector_images_per_s(b16, 1024, args.iters)
    print(f'B/16 detector, 1024 px, {len(names)} classes, VLM score on: {ips:.3f} images/s')

    toy_tok = osp.join(work, 'toy_bpe.json')
    BPETokenizer.train([t.format(prompt_name(n)) for n in TOY_LVIS_CLASSES
                        for t in DEFAULT_TEMPLATES], vocab_size=320, save_path=toy_tok)
    tiny = build_detector('mammut-tiny_ovd_toy-lvis.py',
                          dict(type='BPETokenizer', path=toy_tok, context_length=32), work)
    ips_tiny = detector_images_per_s(tiny, 128, max(args.iters, 10))
    print(f'tiny detector, 128 px, {len(TOY_LVIS_CLASSES)} classes: {ips_tiny:.1f} images/s')


if __name__ == '__main__':
    main()
