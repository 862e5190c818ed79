"""The official VQA accuracy on tricky answers (expected values worked out by hand from the VQA
evaluation rules), its aggregation and rounding, the VQA and VideoQA metrics, and the same
numbers (caption metric included) on two processes."""
from __future__ import annotations

import json
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmengine.structures import BaseDataElement

from mammut_det.captioning import CaptionMetric
from mammut_det.vqa import VideoQAAccuracy, VQAAccuracy, normalize_answer, question_accuracy
from mammut_det.vqa.answers import ScoredQuestion, vqa_scores


def humans(*groups: tuple[str, int]) -> list[str]:
    """Ten human answers from (answer, count) groups."""
    out = [a for a, n in groups for _ in range(n)]
    assert len(out) == 10
    return out


# By hand: if the prediction matches m of the 10 (normalised) answers, leaving out a matching
# answer leaves m - 1 matches and leaving out another leaves m, so the mean over the 10 subsets
# of min(1, matches / 3) is (m * min(1, (m-1)/3) + (10-m) * min(1, m/3)) / 10:
# m=1: 9 * (1/3) / 10 = 0.3; m=2: (2/3 + 8 * 2/3) / 10 = 0.6; m=3: (3 * 2/3 + 7) / 10 = 0.9;
# m>=4: every subset keeps >= 3 matches = 1.0.
@pytest.mark.parametrize('m,expected', [(0, 0.0), (1, 0.3), (2, 0.6), (3, 0.9), (4, 1.0),
                                        (7, 1.0)])
def test_partial_agreement_of_the_ten_humans(m, expected):
    answers = humans(('cat', m), ('dog', 10 - m))
    assert question_accuracy('cat', answers) == pytest.approx(expected)


@pytest.mark.parametrize('prediction,answers,expected', [
    # numbers: "two" is normalised to "2" only when the humans disagree
    ('two', humans(('2', 4), ('3', 6)), 1.0),
    ('two', humans(('2', 10)), 0.0),          # unanimous humans: exact string match only
    ('2', humans(('2', 10)), 1.0),
    ('2', humans(('two', 3), ('2', 1), ('3', 6)), 1.0),   # human "two" counts as "2": m = 4
    ('none', humans(('0', 3), ('1', 7)), 0.9),
    # punctuation and case
    ('yes.', humans(('yes', 8), ('no', 2)), 1.0),
    ('Yes', humans(('yes', 8), ('no', 2)), 1.0),
    ('yes.', humans(('yes', 10)), 0.0),
    ('Yes', humans(('yes', 10)), 0.0),
    (' yes\n', humans(('yes', 10)), 1.0),     # whitespace is always cleaned
    ('yes', humans(('yes ', 1), ('yes', 9)), 1.0),   # "yes " and "yes" are one answer
    # articles
    ('a dog', humans(('dog', 3), ('cat', 7)), 0.9),
    ('the dog', humans(('dog', 3), ('cat', 7)), 0.9),
    ('dog', humans(('a dog', 2), ('dog', 1), ('cat', 7)), 0.9),
    # contractions
    ('dont', humans(("don't", 2), ('no', 8)), 0.6),
    ("don't", humans(('dont', 5), ('no', 5)), 1.0),
    # digits with a comma lose every punctuation mark; elsewhere a lone comma becomes a space
    ('1,000', humans(('1000', 5), ('100', 5)), 1.0),
    ('red,blue', humans(('red blue', 3), ('red', 7)), 0.9),
    ('red, blue', humans(('red blue', 3), ('red', 7)), 0.9),
    # a period before a digit stays
    ('3.5', humans(('3.5', 4), ('3', 6)), 1.0),
    ('35', humans(('3.5', 4), ('3', 6)), 0.0),
])
def test_tricky_answers(prediction, answers, expected):
    assert question_accuracy(prediction, answers) == pytest.approx(expected)


def test_at_most_32_periods_are_removed():
    answers = humans(('x', 4), ('y', 6))
    assert question_accuracy('x' + '.' * 32, answers) == 1.0
    assert question_accuracy('x' + '.' * 33, answers) == 0.0   # one period is left: "x."


def test_normalize_answer():
    assert normalize_answer('  The Two DOGS!\t') == '2 dogs'
    assert normalize_answer('couldnt\'ve') == "couldn't've"
    assert normalize_answer('x/y') == 'x y'
    assert normalize_answer('x / y') == 'x y'


def test_aggregation_and_rounding():
    qs = [ScoredQuestion(1, 'cat', humans(('cat', 10)), 'other', 'what is'),        # 1.0
          ScoredQuestion(2, 'cat', humans(('cat', 1), ('dog', 9)), 'other', 'what'),  # 0.3
          ScoredQuestion(3, '2', humans(('2', 2), ('3', 8)), 'number', 'how many')]  # 0.6
    scores = vqa_scores(qs)
    assert scores['overall'] == 63.33                      # 190 / 3 = 63.333...
    assert scores['perAnswerType'] == {'other': 65.0, 'number': 60.0}
    assert scores['perQuestionType'] == {'what is': 100.0, 'what': 30.0, 'how many': 60.0}
    assert scores['perQuestion'] == {1: 100.0, 2: 30.0, 3: 60.0}
    two_thirds = vqa_scores(qs[:1] + [ScoredQuestion(4, 'x', humans(('y', 10)), 'other', 'a')]
                            + qs[:1])
    assert two_thirds['overall'] == 66.67


def vqa_sample(qid, pred, answers, answer_type='other', question_type='what is'):
    s = BaseDataElement(metainfo=dict(question_id=qid, gt_answers=answers,
                                      answer_type=answer_type, question_type=question_type))
    s.pred_answer = pred
    return s


def test_vqa_metric_scores_and_writes_the_submission(tmp_path):
    results, scores_file = tmp_path / 'sub' / 'results.json', tmp_path / 'scores.json'
    metric = VQAAccuracy(results_file=str(results), scores_file=str(scores_file))
    metric.process({}, [vqa_sample(7, 'Two', humans(('2', 3), ('3', 7)), 'number', 'how many'),
                        vqa_sample(8, 'yes', humans(('yes', 10)), 'yes/no', 'is the')])
    metric.process({}, [vqa_sample(9, 'blue', humans(('red', 10))).to_dict()])   # dict form
    out = metric.evaluate(3)
    # (0.9 + 1 + 0) / 3 = 63.33
    assert out == {'vqa/accuracy': 63.33, 'vqa/accuracy_number': 90.0,
                   'vqa/accuracy_yes_no': 100.0, 'vqa/accuracy_other': 0.0}
    assert json.loads(results.read_text()) == [dict(question_id=7, answer='Two'),
                                               dict(question_id=8, answer='yes'),
                                               dict(question_id=9, answer='blue')]
    assert json.loads(scores_file.read_text())['perQuestionType'] == {
        'how many': 90.0, 'is the': 100.0, 'what is': 0.0}


def test_vqa_metric_without_ground_truth_only_writes_results(tmp_path):
    results = tmp_path / 'test_dev.json'
    metric = VQAAccuracy(results_file=str(results))
    s = BaseDataElement(metainfo=dict(question_id=5))
    s.pred_answer = 'yes'
    metric.process({}, [s])
    assert metric.evaluate(1) == {}
    assert json.loads(results.read_text()) == [dict(question_id=5, answer='yes')]


def test_vqa_metric_errors():
    metric = VQAAccuracy()
    with pytest.raises(KeyError, match='question 3 has no pred_answer'):
        metric.process({}, [BaseDataElement(metainfo=dict(question_id=3))])
    metric.process({}, [vqa_sample(1, 'a', humans(('a', 10)))])
    s = BaseDataElement(metainfo=dict(question_id=2))
    s.pred_answer = 'b'
    metric.process({}, [s])
    with pytest.raises(ValueError, match='1 of 2 samples have no gt_answers'):
        metric.evaluate(2)


def videoqa_sample(pred, answer, question, question_type=None):
    meta = dict(video_id='v', question=question, answer=answer, gt_answers=[answer])
    if question_type:
        meta['question_type'] = question_type
    s = BaseDataElement(metainfo=meta)
    s.pred_answer = pred
    return s


def test_videoqa_accuracy_exact_match_after_normalisation():
    metric = VideoQAAccuracy()
    metric.process({}, [videoqa_sample('A Dog.', 'dog', 'what is running?'),
                        videoqa_sample('two', '2', 'how many people are there?'),
                        videoqa_sample('cat', 'dog', 'What is it?'),
                        videoqa_sample('man', 'man', 'who sings?', question_type='who')])
    out = metric.evaluate(4)
    assert out == {'videoqa/accuracy': 75.0, 'videoqa/accuracy_how': 100.0,
                   'videoqa/accuracy_what': 50.0, 'videoqa/accuracy_who': 100.0}


VQA_CASES = [(i, ['cat', 'two', 'Yes', 'a dog', 'dont'][i % 5],
              humans(('cat', i % 4 + 1), ('2', 3), ('dog', 6 - i % 4)),
              ['other', 'number'][i % 2], ['what', 'how many', 'is'][i % 3]) for i in range(11)]
VIDEOQA_CASES = [(['left', 'Right', 'red'][i % 3], ['left', 'right'][i % 2],
                  ['which way?', 'what colour?'][i % 2]) for i in range(11)]


def _shard(cases: list, rank: int, world: int) -> list:
    """The DefaultSampler's share of ``rank``: padded with the first cases to a multiple of
    ``world``, then every ``world``-th."""
    padded = cases + cases[:-len(cases) % world]
    return padded[rank::world]


COLOURS = ('red', 'blue', 'green', 'pink', 'grey')
CAPTION_CASES = [(f'img{i}', f'a {c} circle next to a square',
                  [f'a {c} circle next to a square', f'a {c} ball and a square',
                   f'a square and a {c} circle on a dark background'])
                 for i, c in enumerate(COLOURS)]


def caption_sample(img_id, pred, refs):
    s = BaseDataElement(metainfo=dict(img_id=img_id, gt_captions=refs))
    s.pred_caption = pred
    return s


def _metrics_on(rank: int, world: int) -> dict:
    vqa, videoqa = VQAAccuracy(), VideoQAAccuracy()
    caption = CaptionMetric(scorers=('bleu', 'cider'))
    vqa.process({}, [vqa_sample(*c) for c in _shard(VQA_CASES, rank, world)])
    videoqa.process({}, [videoqa_sample(*c) for c in _shard(VIDEOQA_CASES, rank, world)])
    caption.process({}, [caption_sample(*c) for c in _shard(CAPTION_CASES, rank, world)])
    return {**vqa.evaluate(len(VQA_CASES)), **videoqa.evaluate(len(VIDEOQA_CASES)),
            **caption.evaluate(len(CAPTION_CASES))}


def _worker(rank: int, world: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group('gloo', rank=rank, world_size=world)
    try:
        out = _metrics_on(rank, world)
        with open(os.path.join(out_dir, f'rank{rank}.json'), 'w') as f:
            json.dump(out, f)
        dist.barrier()
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_generative_metrics_equal_on_two_processes(tmp_path):
    """Each of 2 gloo processes takes every other sample; the VQA, VideoQA and caption metrics
    over the collected samples equal the one-process metrics."""
    one = _metrics_on(0, 1)
    mp.spawn(_worker, args=(2, 29631, str(tmp_path)), nprocs=2, join=True)
    for rank in range(2):
        assert json.loads((tmp_path / f'rank{rank}.json').read_text()) == one
    assert 0 < one['vqa/accuracy'] < 100 and 0 < one['videoqa/accuracy'] < 100
    assert 0 < one['caption/CIDEr'] and 0 < one['caption/Bleu_4'] < 100
