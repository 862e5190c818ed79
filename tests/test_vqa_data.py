"""VQAv2 and VideoQA datasets (layout, packed samples, errors naming file and entry), the toy
sets, the majority-answer baseline and tools/eval_vqa.py."""
from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
from mmengine.registry import DefaultScope

from mammut_det.datasets.caption import BadSample, MissingImage
from mammut_det.datasets.toy_captions import COLOURS
from mammut_det.video.toy import render_moving_clip, write_mp4
from mammut_det.vqa import (
    VideoQADataset,
    VQAv2Dataset,
    evaluate_vqa_files,
    majority_answer,
    majority_baseline,
    make_toy_videoqa,
    make_toy_vqa,
)
from mammut_det.vqa.toy import DEFAULT_COLOURS, plural

ROOT = Path(__file__).resolve().parents[1]
PACK_VQA = dict(type='PackCaptionInputs', meta_keys=(
    'question_id', 'img_id', 'question', 'answer', 'gt_answers', 'answer_type', 'question_type'))


def infos(ds) -> list[dict]:
    return [ds.get_data_info(i) for i in range(len(ds))]


def answers(*words: str) -> list[dict]:
    return [dict(answer=w, answer_confidence='yes', answer_id=i + 1) for i, w in enumerate(words)]


def write_vqa(root: Path, questions: list, annotations: list | None, images=(1, 2)) -> dict:
    (root / 'img').mkdir(parents=True, exist_ok=True)
    for i in images:
        cv2.imwrite(str(root / 'img' / f'COCO_val2014_{i:012d}.jpg'),
                    np.full((8, 8, 3), 100, np.uint8))
    q = root / 'q.json'
    q.write_text(json.dumps(dict(questions=questions)))
    files = dict(ann_file=str(q), data_prefix=dict(img_path=str(root / 'img')))
    if annotations is not None:
        a = root / 'a.json'
        a.write_text(json.dumps(dict(annotations=annotations)))
        files['answer_file'] = str(a)
    return files


def ann(qid, image_id, words, atype='other', qtype='what is the'):
    return dict(question_id=qid, image_id=image_id, answers=answers(*words),
                multiple_choice_answer=words[0], answer_type=atype, question_type=qtype)


QUESTIONS = [dict(image_id=1, question='what is it?', question_id=10),
             dict(image_id=2, question='how many?', question_id=20)]
ANNOTATIONS = [ann(20, 2, ['2'] * 4 + ['two'] * 4 + ['3'] * 2, 'number', 'how many'),
               ann(10, 1, ['dog', 'cat', 'cat', 'dog'] + ['bird'] * 6)]


def test_majority_answer_tie_goes_to_the_first_given():
    assert majority_answer(['cat', 'dog', 'dog', 'cat']) == 'cat'
    assert majority_answer(['dog', 'cat', 'cat', 'dog']) == 'dog'
    assert majority_answer(['a', 'b', 'b']) == 'b'


def test_vqav2_samples_follow_the_annotations_and_pack(tmp_path):
    files = write_vqa(tmp_path, QUESTIONS, ANNOTATIONS)
    ds = VQAv2Dataset(**files, pipeline=[dict(type='LoadImageFromFile'), PACK_VQA])
    assert [d['question_id'] for d in infos(ds)] == [20, 10]   # the annotations' order
    info = ds.get_data_info(1)
    assert info['img_path'] == str(tmp_path / 'img' / 'COCO_val2014_000000000001.jpg')
    assert info['answer'] == 'bird' and info['gt_answers'][:4] == ['dog', 'cat', 'cat', 'dog']
    assert ds.get_data_info(0)['answer'] == '2'   # "2" and "two" tie at 4: first given wins
    packed = ds[1]
    assert tuple(packed['inputs'].shape) == (3, 8, 8)
    meta = packed['data_samples'].metainfo
    assert meta['question_id'] == 10 and meta['img_id'] == 1
    assert meta['question'] == 'what is it?' and len(meta['gt_answers']) == 10
    assert meta['answer_type'] == 'other' and meta['question_type'] == 'what is the'


def test_vqav2_test_split_without_annotations_and_pattern(tmp_path):
    files = write_vqa(tmp_path, QUESTIONS, None)
    for i in (1, 2):
        cv2.imwrite(str(tmp_path / 'img' / f'test_{i}.png'), np.zeros((4, 4, 3), np.uint8))
    ds = VQAv2Dataset(**files, img_pattern='test_{image_id}.png')
    assert [d['question_id'] for d in infos(ds)] == [10, 20]
    assert 'gt_answers' not in infos(ds)[0]
    assert infos(ds)[1]['img_path'].endswith('test_2.png')


@pytest.mark.parametrize('questions,annotations,error,message', [
    (QUESTIONS + [dict(image_id=1, question='why?', question_id=30)], ANNOTATIONS,
     BadSample,
     r'q.json: questions\[2\] \(question_id 30\): question has no annotation in .*a.json'),
    (QUESTIONS, [ANNOTATIONS[0], dict(ANNOTATIONS[1], answers=[])], BadSample,
     r'a.json: annotations\[1\] \(question_id 10\): the question has no answers'),
    (QUESTIONS, [ANNOTATIONS[0], dict(ANNOTATIONS[1], answers=[{'answer_id': 1}])], BadSample,
     r'annotations\[1\] \(question_id 10\): answers\[0\] has no "answer" string'),
    ([QUESTIONS[0], dict(image_id=2, question_id=20)], ANNOTATIONS, BadSample,
     r"questions\[1\] \(question_id 20\): missing key 'question'"),
    (QUESTIONS + [dict(QUESTIONS[0])], ANNOTATIONS, BadSample,
     r'questions\[2\] \(question_id 10\): question_id 10 appears more than once'),
    ([QUESTIONS[0], dict(image_id=3, question='x?', question_id=20)],
     [ANNOTATIONS[0] | dict(image_id=3), ANNOTATIONS[1]], MissingImage,
     r'questions\[1\] \(question_id 20\): image file not found: .*COCO_val2014_000000000003.jpg'),
])
def test_vqav2_errors_name_file_entry_and_question(tmp_path, questions, annotations, error,
                                                   message):
    files = write_vqa(tmp_path, questions, annotations)
    with pytest.raises(error, match=message):
        VQAv2Dataset(**files)
    ds = VQAv2Dataset(**files, on_bad_sample='skip')
    assert ds.num_skipped == 1 and len(ds) == len(questions) - 1


def test_vqav2_malformed_files(tmp_path):
    files = write_vqa(tmp_path, QUESTIONS, ANNOTATIONS)
    Path(files['answer_file']).write_text('{"annotations": [\n{"question_id": 1,}]}')
    with pytest.raises(ValueError, match=r'a.json:2: malformed JSON'):
        VQAv2Dataset(**files)
    Path(files['ann_file']).write_text(json.dumps(QUESTIONS))
    with pytest.raises(ValueError, match=r'q.json: expected an object with a "questions" list'):
        VQAv2Dataset(**files)


def test_majority_baseline_by_hand(tmp_path, capsys):
    # training answers: "yes" x2 (is the), "2" x1 (how many) -> overall majority "yes";
    # per type: "is the" -> "yes", "how many" -> "2".
    train = [ann(1, 1, ['yes'] * 10, 'yes/no', 'is the'),
             ann(2, 1, ['yes'] * 7 + ['no'] * 3, 'yes/no', 'is the'),
             ann(3, 1, ['2'] * 10, 'number', 'how many')]
    (tmp_path / 'train.json').write_text(json.dumps(dict(annotations=train)))
    questions = [dict(image_id=i, question='q', question_id=q) for i, q in ((1, 10), (2, 20))]
    annotations = [ann(10, 1, ['no'] * 9 + ['yes'], 'yes/no', 'is the'),   # "yes": 0.3
                   ann(20, 2, ['2'] * 2 + ['3'] * 8, 'number', 'how many')]  # "2": 0.6
    files = write_vqa(tmp_path, questions, annotations)
    out = majority_baseline(files['ann_file'], files['answer_file'],
                            str(tmp_path / 'train.json'))
    assert out['overall_majority']['answer'] == 'yes'
    assert out['overall_majority']['overall'] == 15.0      # (0.3 + 0) / 2
    assert out['per_type_majority']['answers'] == {'is the': 'yes', 'how many': '2'}
    assert out['per_type_majority']['overall'] == 45.0     # (0.3 + 0.6) / 2
    assert 'per_type_majority: 45.00' in capsys.readouterr().out


def test_eval_vqa_tool(tmp_path):
    files = write_vqa(tmp_path, QUESTIONS, ANNOTATIONS)
    results = tmp_path / 'results.json'
    results.write_text(json.dumps([dict(question_id=10, answer='Cat'),
                                   dict(question_id=20, answer='two')]))
    res = subprocess.run([sys.executable, 'tools/eval_vqa.py', '--questions', files['ann_file'],
                          '--annotations', files['answer_file'], '--results', str(results),
                          '--out', str(tmp_path / 's.json')],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    # "Cat" -> "cat": 2 of 10 -> 0.6; "two" -> "2" matches "2" x4 and "two" x4: 1.0
    assert 'overall: 80.00' in res.stdout and 'number: 100.00' in res.stdout
    scores = json.loads((tmp_path / 's.json').read_text())
    assert scores['perQuestionType'] == {'how many': 100.0, 'what is the': 60.0}


def test_results_must_answer_exactly_the_annotated_questions(tmp_path):
    files = write_vqa(tmp_path, QUESTIONS, ANNOTATIONS)
    results = tmp_path / 'results.json'
    results.write_text(json.dumps([dict(question_id=10, answer='cat'),
                                   dict(question_id=99, answer='x')]))
    with pytest.raises(ValueError, match=r'1 missing \(e.g. \[20\]\), 1 unknown \(e.g. \[99\]\)'):
        evaluate_vqa_files(files['ann_file'], files['answer_file'], str(results))
    results.write_text(json.dumps([dict(question_id=10)]))
    with pytest.raises(ValueError, match=r'results.json: entry 0 is not an object with a '):
        evaluate_vqa_files(files['ann_file'], files['answer_file'], str(results))


def test_toy_vqa_questions_have_one_right_answer(tmp_path):
    out = make_toy_vqa(str(tmp_path), num_train=40, num_val=10, size=48, seed=3)
    files = out['train']
    anns = json.loads(Path(files['annotations']).read_text())['annotations']
    scenes = json.loads(Path(files['scenes']).read_text())
    kinds = Counter()
    for a in anns:
        q = next(q for q in json.loads(Path(files['questions']).read_text())['questions']
                 if q['question_id'] == a['question_id'])
        objs = scenes[str(a['image_id'])]
        words = q['question'].rstrip('?').split()
        truth = a['multiple_choice_answer']
        kinds[a['question_type']] += 1
        if a['question_type'] == 'what colour is the':
            match = [o for o in objs if o['shape'] == words[-1]]
            assert len(match) == 1 and truth == match[0]['colour']
        elif a['question_type'] == 'what shape is the':
            match = [o for o in objs if o['colour'] == words[-2]]
            assert len(match) == 1 and truth == match[0]['shape']
        elif a['question_type'] == 'how many':
            assert truth == str(sum(plural(o['shape']) == words[2] for o in objs))
        else:
            present = any(o['colour'] == words[-2] and o['shape'] == words[-1] for o in objs)
            assert truth == ('yes' if present else 'no')
        assert len(a['answers']) == 10 and a['answer_type'] in ('yes/no', 'number', 'other')
    assert set(kinds) == {'what colour is the', 'what shape is the', 'how many', 'is there a'}
    agree = [len({x['answer'] for x in a['answers']}) == 1 for a in anns]
    assert 0.2 < np.mean(agree) < 0.9   # some questions with human disagreement, some without
    ds = VQAv2Dataset(files['questions'], answer_file=files['annotations'],
                      img_pattern='toy_train_{image_id:012d}.png',
                      data_prefix=dict(img_path=files['images']))
    assert len(ds) == len(anns)
    assert make_toy_vqa(str(tmp_path), num_train=40, num_val=10, size=48, seed=3) == out


def _column_shift(frames: np.ndarray) -> int:
    """Sum over consecutive frames of the circular column shift that best aligns them."""
    cols = frames.astype(np.float32).sum(axis=(1, 3))
    total = 0
    for a, b in zip(cols[:-1], cols[1:]):
        shifts = range(-6, 7)
        total += max(shifts, key=lambda s: float(np.dot(np.roll(a, s), b)))
    return total


def test_toy_videoqa_clips_answer_their_questions(tmp_path):
    out = make_toy_videoqa(str(tmp_path), num_train=4, num_val=2, num_frames=8)
    entries = json.loads(Path(out['train']).read_text())
    assert len(entries) == 8 and entries[0]['question'] == 'which way does the dot move?'
    for e in entries:
        cap = cv2.VideoCapture(str(Path(out['videos']) / f'{e["video_id"]}.mp4'))
        frames = np.stack([cap.read()[1] for _ in range(8)])
        if e['question'].startswith('which way'):
            assert (_column_shift(frames) > 0) == (e['answer'] == 'right')
        else:
            # after mp4 compression the dot's mean colour is nearest to the named one
            pixels = frames.reshape(-1, 3)[frames.reshape(-1, 3).astype(int).sum(-1) > 150]
            mean_rgb = pixels.mean(0)[::-1]
            nearest = min(DEFAULT_COLOURS, key=lambda c: np.abs(mean_rgb - COLOURS[c]).sum())
            assert nearest == e['answer']
    ds = VideoQADataset(out['val'], pipeline=[], data_prefix=dict(video=out['videos']))
    assert [d['answer'] for d in infos(ds)][::2] == ['left', 'right']


VIDEO_PIPELINE = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=4, frame_interval=1, num_clips=1, test_mode=True,
         out_of_bound_opt='loop'),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(16, 16), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs', meta_keys=('video_id', 'question_id', 'question', 'answer',
                                             'gt_answers', 'question_type')),
]


@pytest.fixture(scope='module')
def qa_videos(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('qa_videos')
    rng = np.random.default_rng(0)
    for name in ('video1', 'video2'):
        write_mp4(str(root / f'{name}.mp4'), render_moving_clip(True, rng, 6, 32))
    return root


def test_videoqa_list_packs_action_samples(qa_videos, tmp_path):
    ann = tmp_path / 'qa.json'
    ann.write_text(json.dumps([
        dict(video='video1.mp4', question='what moves?', answer='dot', question_id=7),
        dict(video_id=2, question='who is it?', answer='nobody', question_type='who'),
    ], indent=1))
    with DefaultScope.overwrite_default_scope('mmaction'):
        ds = VideoQADataset(str(ann), VIDEO_PIPELINE, data_prefix=dict(video=str(qa_videos)),
                            video_pattern='video{}.mp4', test_mode=True)
        first, second = ds[0], ds[1]
    assert tuple(first['inputs'].shape) == (1, 3, 4, 16, 16)
    assert type(first['data_samples']).__name__ == 'ActionDataSample'
    meta = first['data_samples'].metainfo
    assert meta == dict(video_id='video1', question_id=7, question='what moves?',
                        answer='dot', gt_answers=['dot'])
    meta = second['data_samples'].metainfo
    assert meta['video_id'] == 2 and meta['question_id'] == 1 and meta['question_type'] == 'who'
    assert ds.get_data_info(1)['ann_line'] == 8


@pytest.mark.parametrize('entries,message', [
    ('[{"video": "video1.mp4", "question": "q"}]', r"qa.json:1: missing key 'answer'"),
    ('[\n {"video": "video1.mp4", "question": "q", "answer": "a"},\n {"question": "q", '
     '"answer": "a"}]', r'qa.json:3: missing key "video" or "video_id"'),
    ('[{"video": "video1.mp4", "question": "q", "answer": ""}]',
     r'qa.json:1: answer must be a non-empty string'),
    ('[{"video": "gone.mp4", "question": "q", "answer": "a"}]',
     r'qa.json:1: video file not found: .*gone.mp4'),
    ('[{"video": "video1.mp4", "question": "q", "answer": "a"} {"x": 1}]',
     r'qa.json:1: malformed JSON \(expected "," or "]"\)'),
])
def test_videoqa_errors_name_file_and_line(qa_videos, tmp_path, entries, message):
    ann = tmp_path / 'qa.json'
    ann.write_text(entries)
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        VideoQADataset(str(ann), [], data_prefix=dict(video=str(qa_videos)))


def test_videoqa_skips_bad_entries(qa_videos, tmp_path):
    ann = tmp_path / 'qa.json'
    ann.write_text(json.dumps([dict(video='video1.mp4', question='q', answer='a'),
                               dict(video='gone.mp4', question='q', answer='a'),
                               dict(video='video2.mp4', question='q'),
                               dict(video='video2.mp4', question='q', answer='b')]))
    ds = VideoQADataset(str(ann), [], data_prefix=dict(video=str(qa_videos)),
                        on_bad_sample='skip', test_mode=True)
    assert [d['answer'] for d in infos(ds)] == ['a', 'b'] and ds.num_bad_entries == 2
