"""Toy motion videos: a dot moving left or right, wrapping around, written as mp4 with OpenCV.

Only motion tells the classes apart. The dot starts at a uniformly random column and wraps around
the frame edges, so any single frame shows it at a uniformly random column in both classes, and the
set of a clip's frames (in any order) has the same distribution in both classes too. A model that
averages per-frame features is at chance; one that sees time (tubes, ordered positions) can learn
the direction.

Run ``python -m mammut_det.video.toy data/toy_video`` to write the dataset the toy configs use.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp

import cv2
import numpy as np

CLASSES = ('moving left', 'moving right')


def render_moving_clip(rightwards: bool, rng: np.random.Generator, num_frames: int = 16,
                       size: int = 32, speed: tuple[float, float] = (1.5, 3.0)) -> np.ndarray:
    """One clip [T, size, size, 3] uint8 (BGR): a dot of a random bright colour at a random row,
    starting at a uniformly random column and moving ``speed`` pixels per frame (uniform in the
    range) left or right, wrapping around the left and right edges."""
    x0 = rng.uniform(0, size)
    y = rng.uniform(0.25 * size, 0.75 * size)
    step = rng.uniform(*speed) * (1 if rightwards else -1)
    colour = tuple(int(c) for c in rng.integers(128, 256, size=3))
    radius = max(2, round(0.12 * size))
    frames = np.zeros((num_frames, size, size, 3), np.uint8)
    for t in range(num_frames):
        x = (x0 + step * t) % size
        for shift in (-size, 0, size):  # draw the copies that show across a wrapped edge
            cv2.circle(frames[t], (round(x + shift), round(y)), radius, colour, thickness=-1,
                       lineType=cv2.LINE_AA)
    return frames


def write_mp4(path: str, frames: np.ndarray, fps: float = 8.0) -> None:
    """Write ``frames`` [T, H, W, 3] uint8 BGR to ``path`` (mp4v codec)."""
    h, w = frames.shape[1:3]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), fps, (w, h))
    if not writer.isOpened():
        raise OSError(f'OpenCV cannot open {path} for writing')
    for frame in frames:
        writer.write(frame)
    writer.release()


def make_moving_dataset(root: str, num_train: int = 256, num_val: int = 64,
                          num_frames: int = 16, size: int = 32, seed: int = 0) -> dict[str, str]:
    """Write ``root/videos/*.mp4``, ``root/train.txt``, ``root/val.txt`` (``path label`` lines,
    paths relative to ``root/videos``) and ``root/classes.txt``; balanced classes. Returns the
    paths of the three text files."""
    rng = np.random.default_rng(seed)
    os.makedirs(osp.join(root, 'videos'), exist_ok=True)
    files = {}
    for split, count in (('train', num_train), ('val', num_val)):
        lines = []
        for i in range(count):
            label = i % 2
            name = f'{split}_{i:04d}.mp4'
            write_mp4(osp.join(root, 'videos', name),
                      render_moving_clip(label == 1, rng, num_frames, size))
            lines.append(f'{name} {label}\n')
        files[split] = osp.join(root, f'{split}.txt')
        with open(files[split], 'w') as f:
            f.writelines(lines)
    files['classes'] = osp.join(root, 'classes.txt')
    with open(files['classes'], 'w') as f:
        f.write('\n'.join(CLASSES) + '\n')
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description='Write the moving-dot toy video dataset.')
    parser.add_argument('root', help='output folder, e.g. data/toy_video')
    parser.add_argument('--num-train', type=int, default=256)
    parser.add_argument('--num-val', type=int, default=64)
    parser.add_argument('--num-frames', type=int, default=16)
    parser.add_argument('--size', type=int, default=32)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    files = make_moving_dataset(args.root, args.num_train, args.num_val, args.num_frames,
                                  args.size, args.seed)
    print('\n'.join(f'{k}: {v}' for k, v in files.items()))


if __name__ == '__main__':
    main()
