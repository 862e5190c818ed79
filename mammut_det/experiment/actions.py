"""What the experiment's in-process stages do (the other stages run the tools): draw the world,
count what it holds, crop the evaluation boxes, draw the toy VQA set and the moving-dot clips, and
hand a training run's checkpoint on."""
from __future__ import annotations

import json
import os
import os.path as osp
import shutil
import time
from collections import Counter
from collections.abc import Sequence
from typing import TextIO

import cv2
from mmengine.config import ConfigDict

from ..registry import TOKENIZERS
from ..video.toy import make_moving_dataset
from ..vqa import majority_baseline, make_toy_videoqa
from .settings import VideoSettings
from .world import WorldClass, WorldSettings
from .world_files import is_complete, make_world
from .world_vqa import VQASettings, check_token_lengths, make_world_vqa


def echo(log: TextIO, text: str) -> None:
    """Write ``text`` to the stage's log and to the console."""
    log.write(text + '\n')
    print(text, flush=True)


def copy_last_checkpoint(work_dir: str, dest: str) -> str:
    """Copy the checkpoint named in MMEngine's ``work_dir/last_checkpoint`` to ``dest``."""
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        raise FileNotFoundError(f'{pointer} is missing: the training run saved no checkpoint')
    with open(pointer) as f:
        src = f.read().strip()
    if not osp.isabs(src) and not osp.isfile(src):
        src = osp.join(work_dir, osp.basename(src))
    os.makedirs(osp.dirname(dest), exist_ok=True)
    shutil.copyfile(src, dest + '.tmp')
    os.replace(dest + '.tmp', dest)
    return dest


def world_counts(world_dir: str, classes: Sequence[WorldClass]) -> dict[str, dict[str, int]]:
    """Per class: pretraining captions that name it, boxes in detection train and val."""
    captions = {c.name: 0 for c in classes}
    with open(osp.join(world_dir, 'pretrain', 'train.jsonl')) as f:
        for line in f:
            text = json.loads(line)['caption']
            for c in classes:
                captions[c.name] += f'{c.colour} {c.shape}' in text
    out = dict(captions=captions)
    for split in ('train', 'val'):
        with open(osp.join(world_dir, 'annotations', f'lvis_v1_{split}.json')) as f:
            data = json.load(f)
        names = {c['id']: c['name'] for c in data['categories']}
        boxes = {c.name: 0 for c in classes}
        for a in data['annotations']:
            boxes[names[a['category_id']]] += 1
        out[f'{split}_boxes'] = boxes
    return out


def draw_world(world_dir: str, s: WorldSettings, classes: Sequence[WorldClass],
               log: TextIO) -> dict:
    """Draw the world into ``world_dir`` (or reuse a complete one with the same settings) and
    return :func:`world_counts`, logging the rare classes' counts."""
    start = time.perf_counter()
    if is_complete(world_dir, s):
        echo(log, f'{world_dir} is complete with these settings; reusing it')
    else:
        echo(log, f'drawing {s.num_pretrain} + {s.num_pretrain_val} pretraining scenes '
                  f'({s.pretrain_size} px), {s.num_det_train} + {s.num_det_val} detection '
                  f'scenes and {s.num_infer} held-out scenes ({s.det_size} px) ...')
        make_world(world_dir, s)
    counts = world_counts(world_dir, classes)
    rare = [c.name for c in classes if c.frequency == 'r']
    echo(log, f'{len(classes)} classes ({len(rare)} rare: {", ".join(rare)}); '
              f'done in {time.perf_counter() - start:.1f} s')
    for name in rare:
        echo(log, f'  {name}: {counts["captions"][name]} pretraining captions, '
                  f'{counts["train_boxes"][name]} training boxes, '
                  f'{counts["val_boxes"][name]} evaluation boxes')
    return counts


def crop_boxes(world_dir: str, out_dir: str, classes: Sequence[WorldClass], margin: float,
               log: TextIO) -> dict:
    """Every evaluation box of ``world_dir`` with a margin of ``margin`` times its longer side, as
    ``out_dir/crops/<annotation id>.png`` and ``out_dir/val.txt`` (``<file> <label>``, the label
    a category index into ``world/classes.txt``)."""
    with open(osp.join(world_dir, 'annotations', 'lvis_v1_val.json')) as f:
        data = json.load(f)
    files = {im['id']: osp.join(world_dir, im['file_name']) for im in data['images']}
    os.makedirs(osp.join(out_dir, 'crops'), exist_ok=True)
    lines, per_class = [], {c.name: 0 for c in classes}
    for ann in sorted(data['annotations'], key=lambda a: a['id']):
        img = cv2.imread(files[ann['image_id']])
        if img is None:
            raise OSError(f'cannot read {files[ann["image_id"]]}')
        x, y, w, h = ann['bbox']
        m = margin * max(w, h)
        x0, y0 = max(int(x - m), 0), max(int(y - m), 0)
        x1, y1 = min(int(x + w + m + 1), img.shape[1]), min(int(y + h + m + 1), img.shape[0])
        name = f'{ann["id"]:06d}.png'
        if not cv2.imwrite(osp.join(out_dir, 'crops', name), img[y0:y1, x0:x1]):
            raise OSError(f'cannot write {osp.join(out_dir, "crops", name)}')
        label = ann['category_id'] - 1
        lines.append(f'{name} {label}')
        per_class[classes[label].name] += 1
    with open(osp.join(out_dir, 'val.txt'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    echo(log, f'{len(lines)} crops in {out_dir}; per class: '
              + ', '.join(f'{n} {k}' for n, k in per_class.items()))
    return dict(num_crops=len(lines), per_class=per_class)


def write_vqa_set(out_dir: str, world: WorldSettings, s: VQASettings, model: ConfigDict,
                  log: TextIO) -> dict:
    """Draw the world's toy VQA set into ``out_dir`` (:func:`~.world_vqa.make_world_vqa`),
    check that its questions and answers fit the VQA ``model``'s (config) tokenizer and prompt
    limit, and score the majority-answer baselines on its val split."""
    start = time.perf_counter()
    paths = make_world_vqa(out_dir, world, s)
    tokenizer = TOKENIZERS.build(model.tokenizer)
    limit = model.get('max_prompt_tokens') or tokenizer.context_length // 2
    longest = check_token_lengths(paths, tokenizer, limit)
    types = {}
    for split, files in paths.items():
        with open(files['annotations']) as f:
            types[split] = dict(Counter(a['question_type'] for a in json.load(f)['annotations']))
        echo(log, f'{split}: {sum(types[split].values())} questions ('
                  + ', '.join(f'{k!r} {n}' for k, n in types[split].items()) + ')')
    echo(log, f'longest question {longest["question"]} ids (prompt limit {limit}), longest '
              f'answer {longest["answer"]} ids (context {tokenizer.context_length} with the '
              'start and end tokens)')
    baselines = majority_baseline(paths['val']['questions'], paths['val']['annotations'],
                                  paths['train']['annotations'])
    for name, b in baselines.items():
        echo(log, f'{name}: {b["overall"]:.2f} ('
                  + ', '.join(f'{k} {v:.2f}' for k, v in sorted(b['perAnswerType'].items()))
                  + ')')
    echo(log, f'done in {time.perf_counter() - start:.1f} s')
    keys = ('overall', 'perAnswerType', 'perQuestionType')
    return dict(questions=types, longest=longest, prompt_limit=limit,
                baselines={name: {k: b[k] for k in ('answer', 'answers', *keys) if k in b}
                           for name, b in baselines.items()})


def write_video_sets(video_dir: str, videoqa_dir: str, s: VideoSettings, log: TextIO) -> dict:
    """The moving-dot clips of the video arms: the recognition set (``video_dir``: direction of
    motion, two classes) and the VideoQA set (``videoqa_dir``: other clips, "which way does the
    dot move?" and "what colour is the dot?")."""
    start = time.perf_counter()
    recognition = make_moving_dataset(video_dir, s.num_train, s.num_val, seed=s.seed)
    videoqa = make_toy_videoqa(videoqa_dir, s.num_train, s.num_val, seed=s.seed + 1)
    echo(log, f'{s.num_train} + {s.num_val} moving-dot clips in {video_dir}, as many with '
              f'two questions each in {videoqa_dir}; done in {time.perf_counter() - start:.1f} s')
    return dict(recognition=recognition, videoqa=videoqa)
