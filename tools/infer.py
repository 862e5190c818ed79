"""Open-vocabulary detection on image and video files, or a folder tree of them.

``python tools/infer.py CONFIG CHECKPOINT INPUT --out-dir DIR [--texts "cat, red car" | --vocab
lvis | --vocab FILE] [--score-thr 0.3] [--frame-stride 1] [--batch-size 1] [--device cpu]``

Writes, per image, ``DIR/vis/<path>`` (the image with boxes, class names and scores) and
``DIR/preds/<path>.json`` (boxes x1, y1, x2, y2 in the pixels of the EXIF-upright image, labels,
names, scores); per video (mp4, avi, mov, mkv, webm, m4v, mpg), detections on every
``--frame-stride``-th frame: ``DIR/vis/<path>[.mp4]`` (those frames drawn, as an mp4) and
``DIR/preds/<path>.json`` (the boxes of each frame); ``<path>`` being its path under INPUT; and
``DIR/summary.json``. Unreadable images and videos are reported and skipped (a video that breaks
part-way keeps the frames done before) and listed again at the end; the exit status is 1 only if
no file could be processed, 2 on a setup error (no inputs, bad vocabulary, wrong checkpoint).
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys

from mmengine.config import DictAction

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from mammut_det.apis import OVDetInferencer, infer_folder, list_inputs  # noqa: E402
from mammut_det.detection import check_vocabulary, load_vocabulary, lvis_v1_classes  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Open-vocabulary detection on image and '
                                                 'video files')
    parser.add_argument('config', help='detector config file (configs/detection/...)')
    parser.add_argument('checkpoint', help='detector checkpoint (from tools/train.py)')
    parser.add_argument('input', help='an image or video file, or a folder searched recursively '
                                      'for images (jpg/jpeg/png/bmp/webp) and videos '
                                      '(mp4/avi/mov/mkv/webm/m4v/mpg), any case')
    parser.add_argument('--out-dir', required=True, help='folder for vis/, preds/, summary.json')
    vocab = parser.add_mutually_exclusive_group()
    vocab.add_argument('--texts', help='comma-separated class names, e.g. "cat, red car"')
    vocab.add_argument('--vocab', help='"lvis" (the 1203 LVIS v1 classes) or a text file with one '
                                       'class name a line; default: the checkpoint\'s classes')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='keep (and draw) boxes scoring above this')
    parser.add_argument('--batch-size', type=int, default=1,
                        help='images (or video frames) per forward pass')
    parser.add_argument('--frame-stride', type=int, default=1,
                        help='detect on every n-th frame of a video (1: every frame)')
    parser.add_argument('--device', default=None,
                        help='cpu, cuda:0, ... (default: a GPU if there is one)')
    parser.add_argument('--palette', default='random', help='box colours: an mmdet palette name')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value pairs (xxx=yyy format)')
    args = parser.parse_args(argv)
    for name in ('batch_size', 'frame_stride'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1, got {getattr(args, name)}')
    return args


def resolve_vocabulary(args: argparse.Namespace) -> tuple[tuple[str, ...] | None, str]:
    """(class names or ``None`` for the checkpoint's, where they come from)."""
    if args.texts is not None:
        return check_vocabulary(args.texts.split(','), source='--texts'), '--texts'
    if args.vocab is None:
        return None, 'checkpoint'
    if args.vocab.lower() in ('lvis', 'lvis_v1'):
        return lvis_v1_classes(), 'lvis_v1'
    if not osp.isfile(args.vocab):
        raise FileNotFoundError(f'--vocab {args.vocab!r} is neither "lvis" nor an existing file '
                                '(one class name a line)')
    return load_vocabulary(args.vocab), args.vocab


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        list_inputs(args.input, exclude=args.out_dir)
        vocabulary, source = resolve_vocabulary(args)
        inferencer = OVDetInferencer(args.config, args.checkpoint, device=args.device,
                                     vocabulary=vocabulary, palette=args.palette,
                                     cfg_options=args.cfg_options)
    except (OSError, ValueError) as e:
        print(f'infer.py: error: {e}', file=sys.stderr)
        return 2
    settings = dict(config=args.config, checkpoint=args.checkpoint,
                    device=str(next(inferencer.model.parameters()).device),
                    vocabulary_source=source)
    summary = infer_folder(inferencer, args.input, args.out_dir, score_thr=args.score_thr,
                           batch_size=args.batch_size, frame_stride=args.frame_stride,
                           settings=settings)
    done = []
    if summary['num_images'] or not summary['num_videos']:
        done.append(f'{summary["num_processed"]} of {summary["num_images"]} images')
    if summary['num_videos']:
        done.append(f'{summary["num_videos_processed"]} of {summary["num_videos"]} videos '
                    f'({summary["num_frames"]} frames)')
    print(f'{" and ".join(done)} processed, {summary["num_detections"]} boxes scoring above '
          f'{args.score_thr} ({len(inferencer.vocabulary)} classes, from {source}); results in '
          f'{args.out_dir}')
    failures = [(item['image'], item['reason']) for item in summary['skipped']]
    failures += [(item['video'], item['reason']) for item in summary['skipped_videos']]
    if failures:
        print(f'{len(failures)} skipped:')
        for name, reason in failures:
            print(f'  {name}: {reason}')
    print(f'summary: {os.path.join(args.out_dir, "summary.json")}')
    return 0 if summary['num_processed'] or summary['num_videos_processed'] else 1


if __name__ == '__main__':
    sys.exit(main())
