"""RandomResizedCrop and PackCaptionInputs, alone and in a CaptionDataset pipeline."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from mmengine.registry import TRANSFORMS
from mmengine.structures import BaseDataElement

import mammut_det.datasets  # noqa: F401  (registers the dataset and transforms)
from mammut_det.datasets import CaptionDataset, PackCaptionInputs, RandomResizedCrop


def _ramp(h: int, w: int) -> np.ndarray:
    """[h, w, 3] uint8 with channel 0 = row index, channel 1 = column index, channel 2 = 7."""
    rows, cols = np.mgrid[:h, :w]
    return np.stack([rows, cols, np.full_like(rows, 7)], -1).astype(np.uint8)


def test_random_resized_crop_area_and_ratio():
    np.random.seed(0)
    rrc = TRANSFORMS.build(dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.3, 0.6),
                                aspect_ratio_range=(0.5, 2.0)))
    areas, ratios, boxes = [], [], set()
    for _ in range(200):
        out = rrc(dict(img=_ramp(120, 90), img_shape=(120, 90)))
        assert out['img'].shape == (64, 64, 3) and out['img'].dtype == np.uint8
        assert out['img_shape'] == (64, 64)
        x1, y1, x2, y2 = out['crop_bbox']
        assert 0 <= x1 < x2 <= 90 and 0 <= y1 < y2 <= 120
        areas.append((x2 - x1) * (y2 - y1) / (120 * 90))
        ratios.append((x2 - x1) / (y2 - y1))
        boxes.add(out['crop_bbox'])
    assert 0.28 <= min(areas) and max(areas) <= 0.62  # rounding to whole pixels
    assert 0.48 <= min(ratios) and max(ratios) <= 2.05
    assert len(boxes) > 150  # random, not a fixed crop


def test_random_resized_crop_takes_the_crop_it_reports():
    np.random.seed(1)
    rrc = RandomResizedCrop(scale=32, crop_ratio_range=(0.25, 0.25), aspect_ratio_range=(1, 1))
    img = _ramp(64, 64)
    out = rrc(dict(img=img.copy()))
    x1, y1, x2, y2 = out['crop_bbox']
    assert (x2 - x1, y2 - y1) == (32, 32)
    np.testing.assert_array_equal(out['img'], img[y1:y2, x1:x2])


def test_random_resized_crop_falls_back_to_centre():
    rrc = RandomResizedCrop(scale=(40, 20), crop_ratio_range=(1.0, 1.0),
                            aspect_ratio_range=(2.0, 3.0))
    out = rrc(dict(img=_ramp(64, 64)))
    assert out['crop_bbox'] == (0, 16, 64, 48)  # widest allowed ratio 2 inside 64 x 64
    assert out['img'].shape == (20, 40, 3)


@pytest.mark.parametrize('kwargs, match', [
    (dict(scale=0), 'scale'), (dict(scale=8, crop_ratio_range=(0.5, 1.5)), 'crop_ratio_range'),
    (dict(scale=8, aspect_ratio_range=(2.0, 1.0)), 'aspect_ratio_range')])
def test_random_resized_crop_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RandomResizedCrop(**kwargs)


def test_pack_caption_inputs():
    img = _ramp(48, 64)
    out = PackCaptionInputs()(dict(img=img, caption='a red circle', img_path='x.png', img_id=3,
                                   ori_shape=(48, 64), img_shape=(48, 64), extra='dropped'))
    inputs, sample = out['inputs'], out['data_samples']
    assert inputs.shape == (3, 48, 64) and inputs.dtype == torch.uint8
    assert inputs[0, 5, 9] == 5 and inputs[1, 5, 9] == 9 and inputs[2, 5, 9] == 7  # order kept
    assert isinstance(sample, BaseDataElement)
    assert sample.caption == 'a red circle' and sample.img_id == 3
    assert sample.metainfo == dict(caption='a red circle', img_path='x.png', img_id=3,
                                   ori_shape=(48, 64), img_shape=(48, 64))
    gray = PackCaptionInputs()(dict(img=np.zeros((5, 6), np.uint8)))
    assert gray['inputs'].shape == (1, 5, 6) and gray['data_samples'].get('caption') is None


def test_pipeline_gives_uint8_chw_and_caption(tmp_path):
    cv2.imwrite(str(tmp_path / 'a.png'), _ramp(80, 100))
    (tmp_path / 'train.jsonl').write_text(json.dumps({'image': 'a.png', 'caption': 'a ramp'}))
    ds = CaptionDataset(ann_file=str(tmp_path / 'train.jsonl'), pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.5, 1.0)),
        dict(type='RandomFlip', prob=0.5, direction='horizontal'),
        dict(type='PackCaptionInputs')])
    out = ds[0]
    assert out['inputs'].shape == (3, 64, 64) and out['inputs'].dtype == torch.uint8
    sample = out['data_samples']
    assert sample.caption == 'a ramp' and sample.img_id == 'a.png'
    assert sample.ori_shape == (80, 100) and sample.img_shape == (64, 64)
    assert sample.img_path == str(tmp_path / 'a.png') and isinstance(sample.flip, bool)
    assert int(out['inputs'][2].max()) == 7  # the constant channel survives crop and resize
