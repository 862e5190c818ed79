"""Captioning: the caption metric against pycocoevalcap run directly, the Java check, and the
Karpathy, grouped and video caption datasets with their toy sets."""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope
from mmengine.structures import BaseDataElement

from mammut_det.captioning import (
    CaptionMetric,
    GroupedCaptionDataset,
    KarpathyCaptionDataset,
    VideoCaptionDataset,
    make_toy_karpathy,
    make_toy_video_captions,
)
from mammut_det.captioning import metrics as caption_metrics
from mammut_det.datasets.caption import BadSample, MissingImage
from mammut_det.video.toy import render_moving_clip, write_mp4

REFS = {
    391895: ['A man with a red helmet on a small moped on a dirt road.',
             'Man riding a motor bike on a dirt road on the countryside.',
             'A man riding on the back of a motorcycle.',
             'A dirt path with a young person on a motor bike rests to the foreground.',
             'A man in a red shirt and a red hat is on a motorcycle on a hill side.'],
    522418: ['A woman wearing a net on her head cutting a cake.',
             'A woman cutting a large white sheet cake.',
             'A woman wearing a hair net cutting a large sheet cake.',
             'there is a woman that is cutting a white cake',
             "A woman marking a cake with the back of a chef's knife."],
    184613: ['A child holding a flowered umbrella and petting a yak.',
             'A young man holding an umbrella next to a herd of cattle.',
             'a young boy barefoot holding an umbrella touching the horn of a cow',
             'A young boy with an umbrella who is touching the horn of a cow.',
             'A boy holding an umbrella while standing next to livestock.'],
    318219: ['A young boy standing in front of a computer keyboard.',
             'a little boy wearing headphones and looking at a computer monitor',
             'He is listening intently to the computer at school.',
             'A young boy stares up at the computer monitor.',
             'a young kid with head phones on using a computer'],
}
PREDS = {391895: 'a man riding a motorcycle on a dirt road',
         522418: 'a woman cutting a cake with a knife',
         184613: 'a boy with an umbrella next to a cow',
         318219: 'a boy looking at a computer'}


@pytest.mark.slow
def test_caption_metric_equals_pycocoevalcap(tmp_path):
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer
    tok = PTBTokenizer()
    gts = tok.tokenize({k: [{'caption': c} for c in v] for k, v in REFS.items()})
    res = tok.tokenize({k: [{'caption': v}] for k, v in PREDS.items()})
    bleu, _ = Bleu(4).compute_score(gts, res)
    cider, _ = Cider().compute_score(gts, res)
    rouge, _ = Rouge().compute_score(gts, res)

    results = tmp_path / 'captions.json'
    metric = CaptionMetric(results_file=str(results))
    for k, refs in REFS.items():
        s = BaseDataElement(metainfo=dict(img_id=k, gt_captions=refs))
        s.pred_caption = PREDS[k]
        metric.process({}, [s])
    out = metric.evaluate(len(REFS))
    for n in range(4):
        assert out[f'caption/Bleu_{n + 1}'] == pytest.approx(100 * bleu[n], abs=1e-9)
    assert out['caption/CIDEr'] == pytest.approx(100 * cider, abs=1e-9)
    assert out['caption/ROUGE_L'] == pytest.approx(100 * rouge, abs=1e-9)
    assert 5 < out['caption/METEOR'] < 60
    assert out['caption/CIDEr'] > 50        # sensible predictions
    assert json.loads(results.read_text())[0] == dict(image_id=391895, caption=PREDS[391895])


def test_caption_metric_rejects_repeated_images_and_unknown_scorers():
    with pytest.raises(ValueError, match=r"unknown caption scorer\(s\) \['bleu5'\]"):
        CaptionMetric(scorers=('bleu5',))
    metric = CaptionMetric(scorers=('bleu',))
    for _ in range(2):
        s = BaseDataElement(metainfo=dict(video_id='video1', gt_captions=['a dot']))
        s.pred_caption = 'a dot'
        metric.process({}, [s])
    with pytest.raises(ValueError, match="id 'video1' has more than one sample"):
        metric.evaluate(2)


def test_spice_is_skipped_offline_with_one_log_line(monkeypatch):
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    monkeypatch.setattr(caption_metrics, '_spice_note_logged', False)
    try:
        for _ in range(2):
            out = caption_metrics.score_captions({1: ['a red dot']}, {1: 'a red dot'},
                                                 ('bleu', 'spice'))
    finally:
        logger.removeHandler(handler)
    assert 'SPICE' not in out and out['Bleu_1'] == pytest.approx(100.0)
    notes = [r.getMessage() for r in records if 'SPICE skipped' in r.getMessage()]
    assert len(notes) == 1 and 'stanford-corenlp-3.6.0.jar' in notes[0]


def test_missing_java_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(shutil, 'which', lambda name: None)
    caption_metrics.java_version.cache_clear()
    try:
        with pytest.raises(RuntimeError, match='no `java` on PATH.*apt-get install '
                                               'default-jre-headless'):
            CaptionMetric()
    finally:
        monkeypatch.undo()
        caption_metrics.java_version.cache_clear()
    assert caption_metrics.java_version() >= 8


def karpathy(root: Path, images: list[dict]) -> str:
    for img in images:
        if 'filename' in img:
            folder = root / img.get('filepath', '')
            folder.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(folder / img['filename']), np.zeros((4, 4, 3), np.uint8))
    path = root / 'dataset_coco.json'
    path.write_text(json.dumps(dict(images=images, dataset='coco')))
    return str(path)


def kimg(cocoid, split, *captions, filepath='val2014'):
    return dict(filepath=filepath, filename=f'COCO_val2014_{cocoid:012d}.jpg', cocoid=cocoid,
                imgid=cocoid, split=split, sentences=[dict(raw=c) for c in captions])


def test_karpathy_train_per_caption_and_test_per_image(tmp_path):
    ann = karpathy(tmp_path, [kimg(1, 'train', 'a cat', 'a cat sleeping'),
                              kimg(2, 'restval', 'a dog'), kimg(3, 'test', 'a cow', ' a bull '),
                              kimg(4, 'val', 'a hen')])
    train = KarpathyCaptionDataset(ann, split=('train', 'restval'), serialize_data=False)
    assert [(d['img_id'], d['caption']) for d in train.data_list] == [
        (1, 'a cat'), (1, 'a cat sleeping'), (2, 'a dog')]
    assert train.data_list[1]['gt_captions'] == ['a cat', 'a cat sleeping']
    assert train.data_list[0]['img_path'] == str(tmp_path / 'val2014' /
                                                 'COCO_val2014_000000000001.jpg')
    test = KarpathyCaptionDataset(ann, split='test', test_mode=True, serialize_data=False,
                                  pipeline=[dict(type='LoadImageFromFile'),
                                            dict(type='PackCaptionInputs', meta_keys=(
                                                'img_id', 'caption', 'gt_captions'))])
    assert len(test) == 1
    assert test[0]['data_samples'].metainfo == dict(img_id=3, caption='a cow',
                                                    gt_captions=['a cow', 'a bull'])


@pytest.mark.parametrize('image,error,message', [
    (dict(filename='x.jpg', cocoid=7, split='test', sentences=[]), BadSample,
     r'dataset_coco.json: images\[1\] \(id 7\): no sentences'),
    (dict(filename='x.jpg', cocoid=7, split='test', sentences=[{'tokens': ['a']}]), BadSample,
     r"images\[1\] \(id 7\): sentences\[0\]: raw must be a non-empty string"),
    (dict(cocoid=7, split='test', sentences=[{'raw': 'a'}]), BadSample,
     r"images\[1\] \(id 7\): missing key 'filename'"),
    (dict(filepath='nowhere', filename='gone.jpg', cocoid=7, split='test',
          sentences=[{'raw': 'a'}]), None, r'images\[1\] \(id 7\): image file not found: .*gone'),
])
def test_karpathy_errors_name_file_and_image(tmp_path, image, error, message):
    images = [kimg(1, 'test', 'a cat'), image]
    ann = karpathy(tmp_path, images if error else images[:1])
    if not error:
        Path(ann).write_text(json.dumps(dict(images=images)))
    with pytest.raises(error or MissingImage, match=message):
        KarpathyCaptionDataset(ann, split='test')
    ds = KarpathyCaptionDataset(ann, split='test', on_bad_sample='skip')
    assert len(ds) == 1 and ds.num_skipped == 1


def test_grouped_caption_dataset(tmp_path):
    for name in ('a.png', 'b.png'):
        cv2.imwrite(str(tmp_path / name), np.zeros((4, 4, 3), np.uint8))
    lines = [{'image': 'a.png', 'caption': 'one'}, {'image': 'b.png', 'caption': 'two'},
             {'image': 'a.png', 'caption': 'three'}]
    ann = tmp_path / 'caps.jsonl'
    ann.write_text(''.join(json.dumps(x) + '\n' for x in lines))
    grouped = GroupedCaptionDataset(str(ann), test_mode=True, serialize_data=False)
    assert [(Path(d['img_path']).name, d['caption'], d['gt_captions'])
            for d in grouped.data_list] == [('a.png', 'one', ['one', 'three']),
                                            ('b.png', 'two', ['two'])]
    per_caption = GroupedCaptionDataset(str(ann), serialize_data=False)
    assert [d['caption'] for d in per_caption.data_list] == ['one', 'three', 'two']


@pytest.fixture(scope='module')
def clips(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('clips')
    rng = np.random.default_rng(0)
    for name in ('video0.mp4', 'video1.mp4', 'vid_a.avi'):
        write_mp4(str(root / name), render_moving_clip(False, rng, 6, 32))
    return root


def msrvtt(path: Path) -> str:
    path.write_text(json.dumps(dict(
        videos=[dict(video_id='video0', split='train', id=0),
                dict(video_id='video1', split='validate', id=1)],
        sentences=[dict(video_id='video0', caption='a dot moves', sen_id=0),
                   dict(video_id='video1', caption='a dot goes left', sen_id=1),
                   dict(video_id='video0', caption='something moves', sen_id=2)])))
    return str(path)


def test_msrvtt_video_captions(clips, tmp_path):
    ann = msrvtt(tmp_path / 'videodatainfo.json')
    train = VideoCaptionDataset(ann, [], split='train', data_prefix=dict(video=str(clips)),
                                serialize_data=False)
    assert [(d['video_id'], d['caption']) for d in train.data_list] == [
        ('video0', 'a dot moves'), ('video0', 'something moves')]
    pipeline = [dict(type='DecordInit'),
                dict(type='SampleFrames', clip_len=4, frame_interval=1, num_clips=1,
                     test_mode=True, out_of_bound_opt='loop'),
                dict(type='DecordDecode'), dict(type='FormatShape', input_format='NCTHW'),
                dict(type='PackActionInputs', meta_keys=('video_id', 'caption', 'gt_captions'))]
    with DefaultScope.overwrite_default_scope('mmaction'):
        val = VideoCaptionDataset(ann, pipeline, split='validate', test_mode=True,
                                  data_prefix=dict(video=str(clips)))
        packed = val[0]
    assert tuple(packed['inputs'].shape) == (1, 3, 4, 32, 32)
    assert packed['data_samples'].metainfo == dict(video_id='video1', caption='a dot goes left',
                                                   gt_captions=['a dot goes left'])


def test_msvd_lines_and_json_list(clips, tmp_path):
    lines = tmp_path / 'msvd_test.txt'
    lines.write_text('# MSVD\nvid_a a dot moves left\n\nvid_a the dot goes to the left\n')
    ds = VideoCaptionDataset(str(lines), [], video_pattern='{}.avi', test_mode=True,
                             data_prefix=dict(video=str(clips)), serialize_data=False)
    assert len(ds) == 1 and ds.data_list[0]['gt_captions'] == ['a dot moves left',
                                                               'the dot goes to the left']
    assert ds.data_list[0]['ann_line'] == 2
    listed = tmp_path / 'caps.json'
    listed.write_text(json.dumps([dict(video='video0.mp4', caption='a'),
                                  dict(video_id='video1', caption='b'),
                                  dict(video='video0.mp4', caption='c')]))
    ds = VideoCaptionDataset(str(listed), [], test_mode=True, data_prefix=dict(video=str(clips)),
                             serialize_data=False)
    assert [(d['video_id'], d['gt_captions']) for d in ds.data_list] == [
        ('video0', ['a', 'c']), ('video1', ['b'])]


@pytest.mark.parametrize('name,text,message', [
    ('caps.txt', 'vid_a a dot\nvid_b\n', r'caps.txt:2: expected "video_id caption"'),
    ('caps.txt', 'vid_a a dot\nvid_b a dot\n', r'caps.txt:2: video file not found: .*vid_b.avi'),
    ('caps.json', '[{"video_id": "vid_a", "caption": "x"},\n {"video_id": "vid_a"}]',
     r"caps.json:2: missing key 'caption'"),
    ('info.json', json.dumps(dict(videos=[dict(video_id='vid_a'), dict(video_id='vid_b')],
                                  sentences=[dict(video_id='vid_a', caption='x')])),
     r'info.json: videos\[1\] \(video_id vid_b\): the video has no captions'),
])
def test_video_caption_errors_name_file_and_line(clips, tmp_path, name, text, message):
    ann = tmp_path / name
    ann.write_text(text)
    kwargs = dict(video_pattern='{}.avi', data_prefix=dict(video=str(clips)))
    with pytest.raises((BadSample, MissingImage), match=message):
        VideoCaptionDataset(str(ann), [], **kwargs)
    ds = VideoCaptionDataset(str(ann), [], on_bad_sample='skip', **kwargs)
    assert len(ds) == 1 and ds.num_bad_entries == 1


def test_toy_caption_sets_load(tmp_path):
    ann = make_toy_karpathy(str(tmp_path / 'img'), num_train=6, num_val=2, num_test=3, size=48)
    train = KarpathyCaptionDataset(ann, split='train', serialize_data=False)
    test = KarpathyCaptionDataset(ann, split='test', test_mode=True, serialize_data=False)
    assert len(train) == 30 and len(test) == 3
    assert all(len(d['gt_captions']) == 5 for d in test.data_list)
    info = make_toy_video_captions(str(tmp_path / 'vid'), num_train=2, num_val=2, num_frames=8)
    val = VideoCaptionDataset(info, [], split='validate', test_mode=True, serialize_data=False,
                              data_prefix=dict(video=str(tmp_path / 'vid' / 'videos')))
    assert [d['video_id'] for d in val.data_list] == ['video2', 'video3']
    assert 'left' in val.data_list[0]['caption'] and 'right' in val.data_list[1]['caption']
    assert all(len(d['gt_captions']) == 5 for d in val.data_list)
