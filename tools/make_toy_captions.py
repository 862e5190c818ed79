"""Draw the toy image-caption set and train its BPE tokenizer.

    python tools/make_toy_captions.py data/toy_captions [--num-train 2000 --num-val 200
                                                         --size 64 --seed 0]

Writes images/{train,val}/*.png, train.jsonl, val.jsonl and tokenizer.json (the file that
configs/_base_/models/mammut_tiny.py loads). A rerun with the same settings does nothing.
``--classes-dir data/toy_classes`` also writes single-shape images in a folder per class, for
configs/pretrain/mammut_tiny_toy_zeroshot_cls.py.
"""
from __future__ import annotations

import argparse
import time

from mammut_det.datasets import make_toy_captions, make_toy_classes


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out_dir', help='output folder, e.g. data/toy_captions')
    parser.add_argument('--num-train', type=int, default=2000, help='training images')
    parser.add_argument('--num-val', type=int, default=200, help='validation images')
    parser.add_argument('--size', type=int, default=64, help='image side in pixels')
    parser.add_argument('--seed', type=int, default=0, help='random seed (>= 0)')
    parser.add_argument('--vocab-size', type=int, default=512,
                        help='tokenizer vocabulary size, special tokens included')
    parser.add_argument('--context-length', type=int, default=32,
                        help='tokenizer context length')
    parser.add_argument('--force', action='store_true', help='regenerate even if complete')
    parser.add_argument('--classes-dir', default=None,
                        help='also write zero-shot classification images here, a folder a class')
    parser.add_argument('--num-per-class', type=int, default=10,
                        help='images per class in --classes-dir')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    start = time.perf_counter()
    written = make_toy_captions(args.out_dir, num_train=args.num_train, num_val=args.num_val,
                                size=args.size, seed=args.seed, vocab_size=args.vocab_size,
                                context_length=args.context_length, force=args.force)
    if written:
        print(f'wrote {args.num_train} train + {args.num_val} val images of {args.size} px, '
              f'captions and tokenizer.json to {args.out_dir} '
              f'in {time.perf_counter() - start:.1f} s')
    else:
        print(f'{args.out_dir} is complete with these settings; nothing to do')
    if args.classes_dir:
        classes = make_toy_classes(args.classes_dir, num_per_class=args.num_per_class,
                                   size=args.size, seed=args.seed)
        print(f'wrote {args.num_per_class} images for each of {len(classes)} classes and '
              f'classes.txt to {args.classes_dir}')


if __name__ == '__main__':
    main()
