"""Toy caption sets in the public layouts, for tests and the main job.

:func:`make_toy_karpathy` writes shapes scenes with 1-2 objects and five captions each (the toy
caption generator's templates, :func:`~mammut_det.datasets.toy_captions.toy_caption`) as a
Karpathy split file::

    images/{train,val,test}/000000.png
    dataset_toy.json    {"images": [{"filepath", "filename", "imgid", "cocoid", "split",
                          "sentences": [{"raw", "tokens", "imgid", "sentid"}]}], "dataset"}
    tokenizer.json, manifest.json

:func:`make_toy_video_captions` writes moving-dot clips (as the toy VideoQA set) with five
captions each ("a red dot moves to the left", ...) in MSRVTT's layout::

    videos/video0.mp4 ...
    videodatainfo.json  {"videos": [{"video_id", "id", "split": "train"|"validate"}],
                         "sentences": [{"video_id", "caption", "sen_id"}]}
    tokenizer.json, manifest.json
"""
from __future__ import annotations

import os.path as osp
from collections.abc import Sequence

import numpy as np

from ..datasets.toy_captions import toy_caption
from ..datasets.toy_scenes import draw_shapes_scene, finish, needs_writing, write_image, write_json
from ..vqa.toy import DEFAULT_COLOURS, TOY_VERSION, toy_settings, write_dot_clips

CAPTIONS_PER_ITEM = 5
KARPATHY_SPLITS = {'train': 0, 'val': 1, 'test': 2}
DOT_TEMPLATES = ('a {c} dot moves to the {d}', 'a {c} dot moving {d}', 'the {c} dot goes {d}',
                 'a {c} circle slides to the {d}', 'a small {c} ball travels {d}')


def make_toy_karpathy(out_dir: str, num_train: int = 400, num_val: int = 50,
                      num_test: int = 50, size: int = 64, seed: int = 0,
                      vocab_size: int = 512, context_length: int = 32,
                      force: bool = False) -> str:
    """Write the toy Karpathy-layout caption set (module docstring) and return the path of
    ``dataset_toy.json``; a rerun with equal settings reuses it unless ``force``."""
    settings = dict(generator=TOY_VERSION, num_train=num_train, num_val=num_val,
                    num_test=num_test, size=size, seed=seed, vocab_size=vocab_size,
                    context_length=context_length)
    ann = osp.join(out_dir, 'dataset_toy.json')
    if not needs_writing(out_dir, settings, ['dataset_toy.json', 'tokenizer.json'], force):
        return ann
    images, texts = [], []
    counts = dict(train=num_train, val=num_val, test=num_test)
    for split, split_id in KARPATHY_SPLITS.items():
        for i in range(counts[split]):
            rng = np.random.default_rng([seed, 10 + split_id, i])
            img, background, objs = draw_shapes_scene(rng, size, (1, 2))
            name = f'{i:06d}.png'
            write_image(osp.join(out_dir, 'images', split, name), img)
            captions = [toy_caption(rng, objs, background) for _ in range(CAPTIONS_PER_ITEM)]
            imgid = len(images)
            images.append(dict(
                filepath=f'images/{split}', filename=name, imgid=imgid, cocoid=100000 + imgid,
                split=split, sentids=[imgid * CAPTIONS_PER_ITEM + k for k in range(len(captions))],
                sentences=[dict(raw=c, tokens=c.split(), imgid=imgid,
                                sentid=imgid * CAPTIONS_PER_ITEM + k)
                           for k, c in enumerate(captions)]))
            texts += captions
    write_json(ann, dict(images=images, dataset='toy'))
    finish(out_dir, settings, texts, vocab_size, context_length)
    return ann


def make_toy_video_captions(out_dir: str, num_train: int = 256, num_val: int = 64,
                            num_frames: int = 16, size: int = 32, seed: int = 0,
                            colours: Sequence[str] = DEFAULT_COLOURS,
                            palette: dict[str, tuple[int, int, int]] | None = None,
                            vocab_size: int = 256, context_length: int = 16,
                            force: bool = False) -> str:
    """Write the toy MSRVTT-layout video caption set (module docstring; splits ``train`` and
    ``validate``) and return the path of ``videodatainfo.json``."""
    palette, settings = toy_settings(colours, palette, num_train=num_train, num_val=num_val,
                                     num_frames=num_frames, size=size, seed=seed,
                                     vocab_size=vocab_size, context_length=context_length)
    ann = osp.join(out_dir, 'videodatainfo.json')
    if not needs_writing(out_dir, settings, ['videodatainfo.json', 'tokenizer.json'], force):
        return ann
    videos, sentences = [], []
    for split, clip in write_dot_clips(out_dir, num_train, num_val, num_frames, size, seed,
                                       palette):
        videos.append(dict(video_id=clip['video_id'], id=clip['number'],
                           split='train' if split == 'train' else 'validate'))
        for template in DOT_TEMPLATES:
            sentences.append(dict(video_id=clip['video_id'], sen_id=len(sentences),
                                  caption=template.format(c=clip['colour'],
                                                          d=clip['direction'])))
    write_json(ann, dict(info=dict(description='toy moving dots'), videos=videos,
                         sentences=sentences))
    finish(out_dir, settings, [s['caption'] for s in sentences], vocab_size, context_length)
    return ann
