"""The experiment's generative side without the tools: the toy VQA set drawn in the world, the
world tokenizer that encodes its questions, and the report's caption and VQA arithmetic."""
from __future__ import annotations

import json
import math
import os.path as osp
from collections import Counter

import cv2
import mmengine
import pytest
from mmengine.config import Config

from mammut_det.experiment import WorldSettings, make_world, world_classes
from mammut_det.experiment.generative_report import paired_stderr
from mammut_det.experiment.report import caption_naming
from mammut_det.experiment.world_vqa import (
    WORLD_VQA_KINDS,
    VQASettings,
    check_token_lengths,
    make_world_vqa,
)
from mammut_det.text import BPETokenizer
from mammut_det.vqa import VQAv2Dataset, majority_answer
from mammut_det.vqa.toy import question_vocabulary

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SMALL_WORLD = WorldSettings(num_pretrain=60, num_pretrain_val=10, num_det_train=4,
                            num_det_val=4, num_infer=1)
SMALL_VQA = VQASettings(num_train=40, num_val=12)


@pytest.fixture(scope='module')
def world_vqa(tmp_path_factory) -> tuple[str, dict]:
    root = tmp_path_factory.mktemp('world_vqa')
    make_world(str(root / 'world'), SMALL_WORLD)
    return str(root / 'world'), make_world_vqa(str(root / 'vqa'), SMALL_WORLD, SMALL_VQA)


def _load(paths: dict, split: str) -> tuple[list[dict], list[dict], dict]:
    files = paths[split]
    with open(files['questions']) as f:
        questions = json.load(f)['questions']
    with open(files['annotations']) as f:
        annotations = json.load(f)['annotations']
    with open(files['scenes']) as f:
        scenes = json.load(f)
    return questions, annotations, scenes


def test_questions_are_about_world_scenes_and_have_one_right_answer(world_vqa):
    _, paths = world_vqa
    pairs = {(c.colour, c.shape) for c in world_classes()}
    shapes = {shape for _, shape in pairs}
    seen = Counter()
    for split, num in (('train', SMALL_VQA.num_train), ('val', SMALL_VQA.num_val)):
        questions, annotations, scenes = _load(paths, split)
        assert len(scenes) == num
        text = {q['question_id']: q['question'] for q in questions}
        for ann in annotations:
            objs = scenes[str(ann['image_id'])]
            assert 1 <= len(objs) <= SMALL_VQA.max_objects
            assert all((o['colour'], o['shape']) in pairs for o in objs)  # world classes only
            question, truth = text[ann['question_id']], ann['multiple_choice_answer']
            seen[ann['question_type']] += 1
            assert len(ann['answers']) == 10
            assert majority_answer([a['answer'] for a in ann['answers']]) == truth
            words = question.rstrip('?').split()
            if ann['question_type'] == 'what colour is the':  # what colour is the star?
                found = [o for o in objs if o['shape'] == words[-1]]
                assert len(found) == 1 and found[0]['colour'] == truth
            elif ann['question_type'] == 'what shape is the':  # what shape is the red object?
                found = [o for o in objs if o['colour'] == words[-2]]
                assert len(found) == 1 and found[0]['shape'] == truth
            else:  # how many circles are there?
                assert ann['question_type'] == 'how many' and ann['answer_type'] == 'number'
                shape = next(s for s in shapes if words[2] in (s + 's', s + 'es'))
                assert truth == str(sum(o['shape'] == shape for o in objs))
    assert set(seen) == set(WORLD_VQA_KINDS)


def test_set_loads_as_vqav2_with_world_sized_images_and_is_deterministic(world_vqa, tmp_path):
    world, paths = world_vqa
    ds = VQAv2Dataset(paths['val']['questions'], answer_file=paths['val']['annotations'],
                      img_pattern='toy_val_{image_id:012d}.png',
                      data_prefix=dict(img_path=paths['val']['images']))
    assert len(ds) == len(_load(paths, 'val')[0]) and len(ds[0]['gt_answers']) == 10
    img = cv2.imread(ds[0]['img_path'])
    pretrain = cv2.imread(osp.join(world, 'pretrain', 'images', 'val', '000000.png'))
    assert img.shape == pretrain.shape == (SMALL_WORLD.pretrain_size,) * 2 + (3,)
    assert img.std() > 10  # coloured objects on a grey background
    again = make_world_vqa(str(tmp_path / 'vqa'), SMALL_WORLD, SMALL_VQA)
    for split in ('train', 'val'):  # one seed gives the same files
        for key in ('questions', 'annotations', 'scenes'):
            assert open(again[split][key]).read() == open(paths[split][key]).read()


def test_world_tokenizer_encodes_questions_within_the_prompt_limit(world_vqa):
    world, paths = world_vqa
    cfg = Config.fromfile(osp.join(ROOT, 'configs/experiment/mammut-tiny_vqa_shapes-world.py'),
                          import_custom_modules=False)
    assert cfg.model.text.context_length == cfg.model.tokenizer.context_length == 16
    tok = BPETokenizer(osp.join(world, 'tokenizer.json'), context_length=16)
    classes = world_classes()
    colours = list(dict.fromkeys(c.colour for c in classes))
    shapes = list(dict.fromkeys(c.shape for c in classes))
    vocabulary = question_vocabulary(colours, shapes, WORLD_VQA_KINDS)
    assert 'how many hexagons are there?' in vocabulary and 'magenta' in vocabulary
    assert max(len(ids) for ids in tok.encode_batch(vocabulary)) <= 8  # half the context
    longest = check_token_lengths(paths, tok, 8)
    assert 1 <= longest['answer'] and longest['question'] <= 8
    with pytest.raises(ValueError, match=r'v2_OpenEnded_toy_train_questions\.json: .* ids\)'):
        check_token_lengths(paths, tok, 3)
    # a tokenizer trained on the captions alone spells the questions' words out byte by byte
    with open(osp.join(world, 'pretrain', 'train.jsonl')) as f:
        captions = [json.loads(line)['caption'] for line in f]
    plain = BPETokenizer.train(captions, 512, osp.join(osp.dirname(world), 'plain.json'), 16)
    assert max(len(ids) for ids in plain.encode_batch(vocabulary)) > 8


def test_caption_naming_by_hand(tmp_path):
    classes = world_classes()
    lines = [dict(image='images/val/000000.png', caption='a red circle and a pink star',
                  objects=['red_circle', 'pink_star']),
             dict(image='images/val/000001.png', caption='a teal square',
                  objects=['teal_square'])]
    ann = tmp_path / 'val.jsonl'
    ann.write_text('\n'.join(json.dumps(line) for line in lines) + '\n')
    samples = [dict(img_path='/x/world/pretrain/images/val/000000.png', caption=lines[0]['caption'],
                    pred_caption='a red circle and a yellow star'),
               dict(img_path='/x/world/pretrain/images/val/000001.png', caption='a teal square',
                    pred_caption='a large teal square on a dark background')]
    mmengine.dump(samples, str(tmp_path / 'pred.pkl'))
    got = caption_naming(str(tmp_path / 'pred.pkl'), str(ann), classes, 1)
    # truth: {red circle, pink star}, {teal square}; named: {red circle, yellow star},
    # {teal square}: 2 of 3 shown classes named, 2 of 3 named classes right, image 2 exact
    assert got['recall'] == pytest.approx(2 / 3) and got['precision'] == pytest.approx(2 / 3)
    assert got['exact'] == 0.5 and got['num_images'] == 2
    assert got['examples'] == [dict(image='images/val/000000.png', caption=lines[0]['caption'],
                                    generated='a red circle and a yellow star')]
    mmengine.dump([dict(samples[0], img_path='/elsewhere/000009.png')], str(tmp_path / 'b.pkl'))
    with pytest.raises(KeyError, match='000009.png is not an image of'):
        caption_naming(str(tmp_path / 'b.pkl'), str(ann), classes, 1)


def test_paired_standard_error_by_hand():
    a = {'1': 100.0, '2': 0.0, '3': 100.0, '4': 100.0}
    b = {'1': 0.0, '2': 0.0, '3': 100.0, '4': 0.0}
    # differences 100, 0, 0, 100: mean 50, sample variance 4 * 50^2 / 3
    assert paired_stderr(a, b) == pytest.approx(math.sqrt(4 * 2500 / 3 / 4))
    assert paired_stderr(a, a) == 0.0
