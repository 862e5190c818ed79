"""Pack a caption file into WebDataset shards for ``WebCaptionDataset``.

``python tools/make_shards.py ANN_FILE OUT_DIR [--shard-size N] [--data-root DIR] [--skip-bad]``

The caption file is read by ``CaptionDataset`` (JSON lines, CSV or COCO captions; a bad sample is
an error naming its file and line, or with ``--skip-bad`` a warning and a count). Every sample
becomes ``{key}.{ext}`` (the image file's bytes, not re-encoded, under its own extension),
``{key}.txt`` (the caption) and ``{key}.json`` (``image``, ``img_id`` and ``source``: the
annotation file and line); keys are the sample's index, zero-padded. Shards hold ``--shard-size``
samples each (the last one the rest) and are named ``00000.tar``, ``00001.tar``, ...;
``sizes.json`` (``{"00000.tar": n, ...}``, open_clip's format) is written last.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import os.path as osp
import sys

import webdataset as wds
from mmengine.fileio import get
from mmengine.logging import print_log
from mmengine.utils import ProgressBar

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from mammut_det.datasets import CaptionDataset  # noqa: E402
from mammut_det.datasets.shards import IMAGE_KEYS  # noqa: E402

SHARD_NAME = '%05d.tar'


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Pack a caption file into WebDataset shards')
    parser.add_argument('ann_file', help='JSON lines, CSV or COCO captions file')
    parser.add_argument('out_dir', help='folder for the shards and sizes.json')
    parser.add_argument('--shard-size', type=int, default=10000, help='samples per shard')
    parser.add_argument('--data-root', default='', help='folder the annotation file is in')
    parser.add_argument('--img-prefix', default='',
                        help='folder image paths are relative to (default: the annotation '
                             "file's folder)")
    parser.add_argument('--format', default='auto', choices=['auto', 'jsonl', 'csv', 'coco'])
    parser.add_argument('--image-key', default='image', help='JSON lines key / CSV column')
    parser.add_argument('--caption-key', default='caption', help='JSON lines key / CSV column')
    parser.add_argument('--skip-bad', action='store_true',
                        help='skip bad samples with a warning instead of stopping')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace the shards and sizes.json already in OUT_DIR')
    args = parser.parse_args(argv)
    if args.shard_size < 1:
        parser.error(f'--shard-size must be >= 1, got {args.shard_size}')
    return args


def _clear(out_dir: str, overwrite: bool) -> None:
    old = sorted(glob.glob(osp.join(out_dir, '[0-9]' * 5 + '.tar')))
    old += [p for p in [osp.join(out_dir, 'sizes.json')] if osp.exists(p)]
    if old and not overwrite:
        raise SystemExit(f'{out_dir} already holds shards ({osp.basename(old[0])}, ...); '
                         'give --overwrite to replace them or choose another folder')
    for path in old:
        os.remove(path)


def make_shards(dataset: CaptionDataset, out_dir: str, shard_size: int) -> dict[str, int]:
    """Write ``dataset``'s samples into shards of ``shard_size`` in ``out_dir``; returns the
    sizes written to ``sizes.json``."""
    num = len(dataset)
    width = max(9, len(str(num - 1)))
    sizes: dict[str, int] = {}
    progress = ProgressBar(num)
    with wds.ShardWriter(osp.join(out_dir, SHARD_NAME), maxcount=shard_size,
                         maxsize=float('inf'), verbose=0, mtime=0) as sink:
        for index in range(num):
            info = dataset.get_data_info(index)
            ext = osp.splitext(info['img_path'])[1].lower().lstrip('.')
            where = info['line'] if info['line'] is not None else f'annotation {info["ann_id"]}'
            source = f'{info["ann_file"]}:{where}'
            if ext not in IMAGE_KEYS:
                raise SystemExit(f'{source}: {info["img_path"]}: the shard reader takes '
                                 f'{", ".join(IMAGE_KEYS)} images; convert this one first')
            meta = dict(image=info['img_path'], img_id=info['img_id'], source=source)
            sink.write({'__key__': f'{index:0{width}d}', ext: get(info['img_path']),
                        'txt': info['caption'], 'json': json.dumps(meta).encode()})
            name = osp.basename(sink.fname)
            sizes[name] = sizes.get(name, 0) + 1
            progress.update()
    with open(osp.join(out_dir, 'sizes.json'), 'w') as f:
        json.dump(sizes, f, indent=1)
    return sizes


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    dataset = CaptionDataset(
        ann_file=args.ann_file, ann_format=args.format, data_root=args.data_root,
        data_prefix=dict(img_path=args.img_prefix), image_key=args.image_key,
        caption_key=args.caption_key, on_bad_sample='skip' if args.skip_bad else 'error')
    os.makedirs(args.out_dir, exist_ok=True)
    _clear(args.out_dir, args.overwrite)
    sizes = make_shards(dataset, args.out_dir, args.shard_size)
    pattern = osp.join(args.out_dir, f'{{00000..{len(sizes) - 1:05d}}}.tar')
    print_log(f'\nwrote {sum(sizes.values())} samples in {len(sizes)} shards: {pattern}; '
              f'sizes in {osp.join(args.out_dir, "sizes.json")}', logger='current')

if __name__ == '__main__':
    main()
