"""Write the toy sets of the generative tasks (VQA, VideoQA, image and video captioning).

    python tools/make_toy_generative.py vqa data/toy_vqa [--num-train 1000 --num-val 200]
    python tools/make_toy_generative.py videoqa data/toy_videoqa
    python tools/make_toy_generative.py captions data/toy_karpathy
    python tools/make_toy_generative.py video_captions data/toy_video_captions

Layouts: VQAv2 (questions + annotations JSON, images by id), MSRVTT-QA lists, a Karpathy split
file, MSRVTT's videodatainfo.json; each folder also gets a tokenizer.json. A rerun with the same
settings reuses the files. For ``vqa`` the majority-answer baselines of the val split are
printed.
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from mammut_det.captioning import make_toy_karpathy, make_toy_video_captions  # noqa: E402
from mammut_det.vqa import majority_baseline, make_toy_videoqa, make_toy_vqa  # noqa: E402

MAKERS = dict(vqa=make_toy_vqa, videoqa=make_toy_videoqa, captions=make_toy_karpathy,
              video_captions=make_toy_video_captions)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('task', choices=sorted(MAKERS))
    parser.add_argument('out_dir', help='output folder')
    parser.add_argument('--num-train', type=int, help='training images or clips')
    parser.add_argument('--num-val', type=int, help='validation images or clips')
    parser.add_argument('--seed', type=int, default=0, help='random seed (>= 0)')
    parser.add_argument('--force', action='store_true', help='regenerate even if complete')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    sizes = {k: v for k, v in (('num_train', args.num_train), ('num_val', args.num_val))
             if v is not None}
    out = MAKERS[args.task](args.out_dir, seed=args.seed, force=args.force, **sizes)
    print(f'{args.task} toy set in {args.out_dir}: {out}')
    if args.task == 'vqa':
        majority_baseline(out['val']['questions'], out['val']['annotations'],
                          out['train']['annotations'])


if __name__ == '__main__':
    main()
