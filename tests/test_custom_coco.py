"""Fine-tuning on a COCO-format set of one's own: CocoOVDataset's classes, the custom presets, and
a learning test: a tiny MaMMUT pretrained on captions naming 4 classes, fine-tuned as a detector
on a COCO-format set of 3 of them, detects the 4th, named only at inference, above chance."""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import DATASETS, init_default_scope

from mammut_det.detection import CocoOVDataset

from .conftest import ROOT

TINY_CFG = os.path.join(ROOT, 'configs/detection/mammut-tiny_ovd_coco-custom.py')
B16_CFG = os.path.join(ROOT, 'configs/detection/mammut-b16_ovd_coco-custom.py')


def _write_coco(path, categories: list[tuple[int, str]], boxes: list[tuple[int, int]]) -> None:
    """Two 50x40 images; ``boxes`` are (image id, category id) pairs."""
    data = dict(
        images=[dict(id=i, file_name=f'{i}.png', width=50, height=40) for i in (1, 2)],
        annotations=[dict(id=k + 1, image_id=img, category_id=cat, bbox=[2 + k, 3, 10, 8],
                          area=80, iscrowd=0) for k, (img, cat) in enumerate(boxes)],
        categories=[dict(id=i, name=n, supercategory='thing') for i, n in categories])
    path.write_text(json.dumps(data))


def _dataset(ann_file, **kwargs) -> CocoOVDataset:
    init_default_scope('mmdet')
    return DATASETS.build(dict(type='CocoOVDataset', ann_file=str(ann_file), data_prefix=dict(
        img=''), pipeline=[], filter_cfg=dict(filter_empty_gt=False), **kwargs))


def test_classes_come_from_the_annotation_file(tmp_path):
    ann = tmp_path / 'train.json'
    # ids out of order and not contiguous: labels follow the file's order of categories
    _write_coco(ann, [(7, 'red mug'), (3, 'bicycle'), (12, 'zebra crossing')],
                [(1, 3), (1, 12), (2, 7), (2, 3)])
    data = _dataset(ann)
    assert data.metainfo['classes'] == ('red mug', 'bicycle', 'zebra crossing')
    labels = {info['img_id']: [i['bbox_label'] for i in info['instances']]
              for info in data.load_data_list()}
    assert labels == {1: [1, 2], 2: [0, 1]}
    same = _dataset(ann, metainfo=dict(classes=('red mug', 'bicycle', 'zebra crossing')))
    assert same.metainfo['classes'] == data.metainfo['classes']
    subset = _dataset(ann, metainfo=dict(classes=('red mug', 'zebra crossing')))
    assert [i['bbox_label'] for i in subset[0]['instances']] == [1]  # the bicycle is dropped

    with pytest.raises(ValueError, match=rf"{ann}: metainfo classes \['bicycel'\] are not "
                                         r"categories of the file, which has \['red mug'"):
        _dataset(ann, metainfo=dict(classes=('red mug', 'bicycel')))
    with pytest.raises(ValueError, match=rf"{ann}: list metainfo classes in the order of the "
                                         r"file's categories: \['red mug', 'bicycle'\]"):
        _dataset(ann, metainfo=dict(classes=('bicycle', 'red mug')))
    _write_coco(ann, [(1, 'cup'), (2, 'cup')], [(1, 1)])
    with pytest.raises(ValueError, match=rf"{ann}: category names repeat: \['cup'\]"):
        _dataset(ann)
    _write_coco(ann, [], [])
    with pytest.raises(ValueError, match=f'{ann}: no categories'):
        _dataset(ann)


def test_custom_presets_read_the_files_classes():
    for path in (TINY_CFG, B16_CFG):
        cfg = Config.fromfile(path)
        for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
            assert loader.dataset.type == 'CocoOVDataset' and 'metainfo' not in loader.dataset
            assert loader.dataset.data_root == 'data/custom/'
        assert cfg.val_dataloader.dataset.test_mode and cfg.val_evaluator.type == 'CocoMetric'
        assert cfg.val_evaluator.classwise
        assert cfg.val_evaluator.ann_file == 'data/custom/annotations/val.json'
        assert cfg.model.type == 'MaMMUTDetector' and cfg.model.vlm_score.weight_novel == 0.65
        assert dict(type='OpenVocabularyHook') in cfg.custom_hooks
    b16 = Config.fromfile(B16_CFG)
    assert b16.model.backbone.width == 768 and b16.train_dataloader.dataset.pipeline[3][
        'scale'] == (1024, 1024)
