"""The toy caption generator: determinism, captions that match the pixels, reruns, the CLI and
an MMEngine DataLoader (and one MaMMUT loss) over its output."""
from __future__ import annotations

import filecmp
import json
import os
import os.path as osp
import re
import runpy
import sys

import cv2
import numpy as np
import pytest
import torch
from mmengine.registry import MODELS
from mmengine.runner import Runner

import mammut_det  # noqa: F401  (registers the models)
from mammut_det.datasets import make_toy_captions
from mammut_det.datasets.toy_captions import (
    BACKGROUNDS,
    COLOURS,
    SHAPES,
    ToyObject,
    draw_object,
    make_sample,
)
from mammut_det.models.mammut import PASSES
from mammut_det.text import BPETokenizer

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
NUM_TRAIN, NUM_VAL = 200, 40
OBJECT = '(?:(small|large) )?(' + '|'.join(COLOURS) + ') (' + '|'.join(SHAPES) + ')'


@pytest.fixture(scope='module')
def toy(tmp_path_factory) -> str:
    out = str(tmp_path_factory.mktemp('toy') / 'toy_captions')
    assert make_toy_captions(out, num_train=NUM_TRAIN, num_val=NUM_VAL, seed=3)
    return out


def _read(out: str, split: str) -> list[dict]:
    with open(osp.join(out, f'{split}.jsonl')) as f:
        return [json.loads(line) for line in f]


def _tree(out: str) -> list[str]:
    return sorted(osp.relpath(osp.join(d, f), out) for d, _, fs in os.walk(out) for f in fs)


def test_layout_and_tokenizer(toy):
    train, val = _read(toy, 'train'), _read(toy, 'val')
    assert (len(train), len(val)) == (NUM_TRAIN, NUM_VAL)
    assert len(os.listdir(osp.join(toy, 'images', 'train'))) == NUM_TRAIN
    img = cv2.imread(osp.join(toy, train[0]['image']), cv2.IMREAD_UNCHANGED)
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8
    tok = BPETokenizer(osp.join(toy, 'tokenizer.json'), context_length=32)
    assert 259 < tok.vocab_size <= 512
    captions = [s['caption'] for s in train + val]
    assert max(tok.num_tokens(c) for c in captions) <= 32  # nothing is truncated
    assert tok.decode(tok(captions[0])[0].tolist()) == captions[0]
    assert len(set(captions)) > NUM_TRAIN // 2  # varied templates, shapes and colours


def test_same_seed_same_bytes(toy, tmp_path):
    again = str(tmp_path / 'again')
    make_toy_captions(again, num_train=NUM_TRAIN, num_val=NUM_VAL, seed=3)
    files = _tree(toy)
    assert files == _tree(again)
    match, mismatch, errors = filecmp.cmpfiles(toy, again, files, shallow=False)
    assert (len(match), mismatch, errors) == (len(files), [], [])
    other = str(tmp_path / 'other')
    make_toy_captions(other, num_train=NUM_TRAIN, num_val=NUM_VAL, seed=4)
    assert _read(other, 'train') != _read(toy, 'train')


def _nearest_colour(bgr: np.ndarray) -> str:
    dist = {name: np.linalg.norm(bgr - np.array(rgb[::-1])) for name, rgb in COLOURS.items()}
    return min(dist, key=dist.get)


def test_captions_match_the_pixels(toy):
    sizes = {'small': [], 'large': []}
    for sample in _read(toy, 'train') + _read(toy, 'val'):
        img = cv2.imread(osp.join(toy, sample['image'])).astype(np.float32)
        objs = [ToyObject(**o) for o in sample['objects']]
        mentioned = re.findall(OBJECT, sample['caption'])
        assert sorted((c, s) for _, c, s in mentioned) == sorted((o.colour, o.shape)
                                                                 for o in objs), sample
        drawn = np.zeros(img.shape[:2], np.uint8)
        by_name = {(o.colour, o.shape): o for o in objs}
        for size, colour, shape in mentioned:
            obj = by_name[colour, shape]
            mask = draw_object(np.zeros(img.shape[:2], np.uint8), obj, (255,))
            drawn |= mask
            assert _nearest_colour(np.median(img[mask == 255], 0)) == colour, sample
            assert size in ('', obj.size), sample
            sizes[obj.size].append(obj.radius)
        for m in re.finditer(f'{OBJECT} (above|below) {OBJECT}', sample['caption']):
            y1 = by_name[m.group(2), m.group(3)].center[1]
            y2 = by_name[m.group(6), m.group(7)].center[1]
            assert (y1 < y2) == (m.group(4) == 'above'), sample
        # outside the shapes there is only grey background: nothing is drawn uncaptioned
        outside = img[cv2.dilate(drawn, np.ones((3, 3), np.uint8)) == 0]
        assert np.abs(outside - outside.mean(1, keepdims=True)).max() < 40
        background = re.search(r'on an? (\w+) background', sample['caption'])
        if background:
            assert abs(np.median(outside) - BACKGROUNDS[background.group(1)]) < 10
    assert max(sizes['small']) < min(sizes['large'])


def test_make_sample_draws_what_it_returns():
    img, caption, objs = make_sample(np.random.default_rng(0), 96)
    assert img.shape == (96, 96, 3) and img.dtype == np.uint8
    for obj in objs:
        x, y = (round(c) for c in obj.center)
        assert _nearest_colour(img[y, x].astype(float)) == obj.colour
        assert f'{obj.colour} {obj.shape}' in caption


def test_rerun_skips_and_changed_settings_regenerate(tmp_path):
    out = str(tmp_path / 'toy')
    assert make_toy_captions(out, num_train=30, num_val=5)
    stamp = os.stat(osp.join(out, 'train.jsonl')).st_mtime_ns
    assert not make_toy_captions(out, num_train=30, num_val=5)
    assert os.stat(osp.join(out, 'train.jsonl')).st_mtime_ns == stamp
    os.remove(osp.join(out, 'images', 'train', '000007.png'))  # incomplete -> regenerate
    assert make_toy_captions(out, num_train=30, num_val=5)
    assert osp.isfile(osp.join(out, 'images', 'train', '000007.png'))
    assert make_toy_captions(out, num_train=12, num_val=5)  # fewer images: stale ones go
    assert len(os.listdir(osp.join(out, 'images', 'train'))) == 12
    assert len(_read(out, 'train')) == 12
    with pytest.raises(ValueError, match='num_val >= 1'):
        make_toy_captions(out, num_train=5, num_val=0)


def test_cli(tmp_path, monkeypatch, capsys):
    out = str(tmp_path / 'cli')
    tool = osp.join(ROOT, 'tools', 'make_toy_captions.py')
    argv = [tool, out, '--num-train', '20', '--num-val', '4', '--size', '48', '--seed', '1']
    monkeypatch.setattr(sys, 'argv', argv)
    runpy.run_path(tool, run_name='__main__')
    assert 'wrote 20 train + 4 val images of 48 px' in capsys.readouterr().out
    assert cv2.imread(osp.join(out, 'images', 'val', '000003.png')).shape == (48, 48, 3)
    runpy.run_path(tool, run_name='__main__')
    assert 'nothing to do' in capsys.readouterr().out


def _loader_cfg(toy: str, collate: str, num_workers: int) -> dict:
    return dict(
        batch_size=8, num_workers=num_workers, persistent_workers=False,
        sampler=dict(type='DefaultSampler', shuffle=True, seed=0),
        collate_fn=dict(type=collate),
        dataset=dict(
            type='CaptionDataset', data_root=toy, ann_file='val.jsonl',
            data_prefix=dict(img_path=''),
            pipeline=[dict(type='LoadImageFromFile'),
                      dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.5, 1.0)),
                      dict(type='RandomFlip', prob=0.5, direction='horizontal'),
                      dict(type='PackCaptionInputs')]))


@pytest.mark.parametrize('collate, num_workers', [('pseudo_collate', 0), ('default_collate', 2)])
def test_dataloader_from_config(toy, collate, num_workers):
    loader = Runner.build_dataloader(_loader_cfg(toy, collate, num_workers), seed=0)
    expected = {s['caption'] for s in _read(toy, 'val')}
    captions = []
    for batch in loader:
        inputs = batch['inputs']
        if collate == 'pseudo_collate':
            assert all(x.shape == (3, 64, 64) and x.dtype == torch.uint8 for x in inputs)
        else:
            assert inputs.shape[1:] == (3, 64, 64) and inputs.dtype == torch.uint8
        assert len(inputs) == len(batch['data_samples']) <= 8
        captions += [s.caption for s in batch['data_samples']]
    assert len(captions) == NUM_VAL and set(captions) == expected


def test_mammut_tiny_loss_on_a_toy_batch(toy):
    model_cfg = runpy.run_path(osp.join(ROOT, 'configs', '_base_', 'models',
                                        'mammut_tiny.py'))['model']
    model_cfg['tokenizer']['path'] = osp.join(toy, 'tokenizer.json')
    model = MODELS.build(model_cfg)
    model.set_pass_schedule(PASSES, {p: 1.0 for p in PASSES})
    batch = next(iter(Runner.build_dataloader(_loader_cfg(toy, 'pseudo_collate', 0), seed=0)))
    data = model.data_preprocessor(batch, True)
    assert data['inputs'].shape == (8, 3, 64, 64) and data['inputs'].dtype == torch.float32
    losses = model(**data, mode='loss')
    assert torch.isfinite(losses['loss_contrastive']) and torch.isfinite(losses['loss_caption'])
    assert 3.0 < losses['loss_caption'].item() < 10.0  # about ln(vocab) at initialisation
