"""CaptionDataset: the three annotation formats, errors naming file and line, skip mode, the
tokenizer length warnings and loading errors naming the image."""
from __future__ import annotations

import json
import os.path as osp
import re

import cv2
import numpy as np
import pytest
from mmengine.registry import DATASETS

import mammut_det.datasets  # noqa: F401  (registers the dataset and transforms)
from mammut_det.datasets import CaptionDataset
from mammut_det.text import BPETokenizer


def _images(folder, *names: str) -> None:
    for i, name in enumerate(names):
        path = osp.join(folder, name)
        cv2.imwrite(path, np.full((10, 12, 3), 20 * i, np.uint8))


def _write(path, lines: list[str]) -> str:
    path.write_text('\n'.join(lines) + '\n')
    return str(path)


def test_jsonl_paths_relative_to_annotation_folder(tmp_path):
    _images(tmp_path, 'a.png', 'b.png')
    ann = _write(tmp_path / 'train.jsonl', [
        json.dumps({'image': 'a.png', 'caption': '  a red circle '}), '',
        json.dumps({'image': 'b.png', 'caption': 'a blue square', 'image_id': 7})])
    ds = DATASETS.build(dict(type='CaptionDataset', ann_file=ann))
    assert len(ds) == 2
    first, second = ds.get_data_info(0), ds.get_data_info(1)
    assert first['img_path'] == osp.join(str(tmp_path), 'a.png')
    assert first['caption'] == 'a red circle'
    assert (first['img_id'], first['ann_file'], first['line']) == ('a.png', ann, 1)
    assert (second['img_id'], second['line']) == (7, 3)  # blank line 2 is skipped


def test_data_root_and_prefix(tmp_path):
    (tmp_path / 'imgs').mkdir()
    _images(tmp_path / 'imgs', 'a.png')
    _write(tmp_path / 'ann.jsonl', [json.dumps({'image': 'a.png', 'caption': 'x'})])
    ds = CaptionDataset(ann_file='ann.jsonl', data_root=str(tmp_path),
                        data_prefix=dict(img_path='imgs'))
    assert ds.get_data_info(0)['img_path'] == osp.join(str(tmp_path), 'imgs', 'a.png')


def test_csv_custom_columns_and_quoted_multiline(tmp_path):
    _images(tmp_path, 'a.png', 'b.png')
    ann = _write(tmp_path / 'caps.csv', [
        'id,filepath,title',
        '1,a.png,"a red circle, small"',
        '2,b.png,"two lines',
        'of caption"',
        '3,a.png,a green star'])
    ds = CaptionDataset(ann_file=ann, image_key='filepath', caption_key='title')
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert [i['caption'] for i in infos] == ['a red circle, small', 'two lines\nof caption',
                                             'a green star']
    assert [i['line'] for i in infos] == [2, 3, 5]


def test_csv_header_without_columns(tmp_path):
    ann = _write(tmp_path / 'caps.csv', ['path,text', 'a.png,hello'])
    with pytest.raises(ValueError, match=r'caps\.csv:1: .*lacks the column.*image'):
        CaptionDataset(ann_file=ann)


def test_csv_bad_row_names_its_line(tmp_path):
    _images(tmp_path, 'a.png')
    ann = _write(tmp_path / 'caps.csv', ['image,caption', 'a.png,"multi', 'line"', 'a.png,  '])
    with pytest.raises(ValueError, match=r'caps\.csv:4: empty caption'):
        CaptionDataset(ann_file=ann)


def _coco(tmp_path, annotations) -> str:
    _images(tmp_path, 'a.png', 'b.png')
    path = tmp_path / 'captions.json'
    path.write_text(json.dumps({
        'images': [{'id': 10, 'file_name': 'a.png'}, {'id': 11, 'file_name': 'b.png'}],
        'annotations': annotations}))
    return str(path)


def test_coco_one_sample_per_caption(tmp_path):
    ann = _coco(tmp_path, [{'id': 1, 'image_id': 10, 'caption': 'a red circle'},
                           {'id': 2, 'image_id': 10, 'caption': 'a round red shape'},
                           {'id': 3, 'image_id': 11, 'caption': 'a blue square'}])
    ds = CaptionDataset(ann_file=ann)
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert [i['img_id'] for i in infos] == [10, 10, 11]
    assert [i['ann_id'] for i in infos] == [1, 2, 3]
    assert infos[1]['caption'] == 'a round red shape'
    assert infos[2]['img_path'] == osp.join(str(tmp_path), 'b.png')


@pytest.mark.parametrize('ann, message', [
    ({'id': 5, 'image_id': 10}, r"annotation id 5: missing key 'caption'"),
    ({'id': 6, 'image_id': 99, 'caption': 'x'}, r'annotation id 6: image_id 99 is not in'),
    ({'id': 7, 'image_id': 10, 'caption': ' '}, r'annotation id 7: empty caption'),
])
def test_coco_errors_name_annotation_id(tmp_path, ann, message):
    path = _coco(tmp_path, [{'id': 1, 'image_id': 10, 'caption': 'ok'}, ann])
    with pytest.raises(ValueError, match=r'captions\.json: ' + message):
        CaptionDataset(ann_file=path)


def test_coco_malformed_json_names_line(tmp_path):
    path = tmp_path / 'captions.json'
    path.write_text('{"images": [],\n"annotations": [\n{"id": 1,,}]}')
    with pytest.raises(ValueError, match=r'captions\.json:3: malformed JSON'):
        CaptionDataset(ann_file=str(path))


BAD_LINES = {  # line text -> expected error (line numbers follow from the order below)
    '{"image": "a.png"}': "missing key 'caption'",
    '{"caption": "a red circle"}': "missing key 'image'",
    '{"image": "a.png", "caption": "   "}': 'empty caption',
    '{"image": "a.png", "caption": 3}': 'caption must be a string',
    '{"image": "a.png", "caption": "x"': 'malformed JSON',
    '["a.png", "x"]': 'expected an object',
    '{"image": "missing.png", "caption": "x"}': 'image file not found: .*missing.png',
}


@pytest.mark.parametrize('bad', list(BAD_LINES))
def test_jsonl_error_names_file_and_line(tmp_path, bad):
    _images(tmp_path, 'a.png')
    good = json.dumps({'image': 'a.png', 'caption': 'fine'})
    ann = _write(tmp_path / 'train.jsonl', [good, good, bad, good])
    error = FileNotFoundError if 'not found' in BAD_LINES[bad] else ValueError
    with pytest.raises(error, match=r'train\.jsonl:3: ' + BAD_LINES[bad]):
        CaptionDataset(ann_file=ann)


def test_skip_mode_keeps_good_samples_and_counts_bad(tmp_path, log_records):
    _images(tmp_path, 'a.png')
    good = [json.dumps({'image': 'a.png', 'caption': f'good {i}'}) for i in range(3)]
    lines = [good[0], *BAD_LINES, good[1], good[2]]
    ann = _write(tmp_path / 'train.jsonl', lines)
    ds = CaptionDataset(ann_file=ann, on_bad_sample='skip')
    assert [ds.get_data_info(i)['caption'] for i in range(len(ds))] == ['good 0', 'good 1',
                                                                         'good 2']
    assert ds.num_skipped == len(BAD_LINES)
    for line, expected in enumerate(BAD_LINES.values(), start=2):
        assert any(f'train.jsonl:{line}: ' in r and
                   re.search(expected, r) for r in log_records), (line, expected)
    assert any(f'kept 3 of {len(lines)} samples, skipped {len(BAD_LINES)}' in r
               for r in log_records)


def test_all_bad_is_an_error(tmp_path):
    ann = _write(tmp_path / 'train.jsonl', ['{"image": "a.png"}'])
    with pytest.raises(ValueError, match=r'no usable samples \(1 read, 1 skipped\)'):
        CaptionDataset(ann_file=ann, on_bad_sample='skip')


def test_bad_options(tmp_path):
    with pytest.raises(ValueError, match='on_bad_sample'):
        CaptionDataset(ann_file='x.jsonl', on_bad_sample='ignore')
    with pytest.raises(ValueError, match=r'cannot tell the annotation format.*\.txt'):
        CaptionDataset(ann_file=str(_write(tmp_path / 'x.txt', ['a'])))


def test_tokenizer_warns_about_long_captions(tmp_path, log_records):
    _images(tmp_path, 'a.png')
    tok_path = str(tmp_path / 'tok.json')
    BPETokenizer.train(['a red circle', 'a blue square'] * 5, 300, tok_path, 8)
    long_caption = 'a red circle and a blue square and a red square'
    ann = _write(tmp_path / 'train.jsonl', [
        json.dumps({'image': 'a.png', 'caption': 'a red circle'}),
        json.dumps({'image': 'a.png', 'caption': long_caption})])
    ds = CaptionDataset(ann_file=ann, tokenizer=dict(type='BPETokenizer', path=tok_path,
                                                     context_length=8))
    assert len(ds) == 2 and ds.num_too_long == 1
    n = ds.tokenizer.num_tokens(long_caption)
    assert n > 8
    assert any(f'train.jsonl:2: caption has {n} tokens, more than the context length 8' in r
               for r in log_records)
    assert not any('train.jsonl:1:' in r for r in log_records)


@pytest.mark.parametrize('content', [b'not an image', b'\x89PNG\r\n\x1a\n\x00\x00truncated'])
def test_corrupt_image_error_names_path(tmp_path, content):
    (tmp_path / 'bad.png').write_bytes(content)
    ann = _write(tmp_path / 'train.jsonl', [json.dumps({'image': 'bad.png', 'caption': 'x'})])
    ds = CaptionDataset(ann_file=ann, pipeline=[dict(type='LoadImageFromFile'),
                                                dict(type='PackCaptionInputs')])
    # mmcv's LoadImageFromFile names the path itself
    with pytest.raises(AssertionError, match=r'failed to load image: .*bad\.png'):
        ds[0]


def test_tokenizer_tokenises_captions_in_the_data_workers(tmp_path):
    """With a tokenizer the packed samples carry the caption's ids (start ... end, unpadded), made
    where the pipeline runs: in DataLoader workers, not on the training process."""
    import torch
    from mmengine.dataset import pseudo_collate
    _images(tmp_path, 'a.png', 'b.png')
    tok_path = str(tmp_path / 'tok.json')
    tok = BPETokenizer.train(['a red circle', 'a blue square'] * 5, 300, tok_path, 8)
    ann = _write(tmp_path / 'train.jsonl', [
        json.dumps({'image': 'a.png', 'caption': 'a red circle'}),
        json.dumps({'image': 'b.png', 'caption': 'a blue square and a red square'})])
    ds = CaptionDataset(ann_file=ann, tokenizer=dict(type='BPETokenizer', path=tok_path,
                                                     context_length=8),
                        pipeline=[dict(type='LoadImageFromFile'), dict(type='PackCaptionInputs')])
    loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=1,
                                         collate_fn=pseudo_collate)
    batch = next(iter(loader))
    got = [s.text_tokens.tolist() for s in batch['data_samples']]
    assert got == tok.token_ids(['a red circle', 'a blue square and a red square'])
    assert len(got[1]) == 8 and got[1][-1] == tok.eot_id  # cut to the context, end kept
