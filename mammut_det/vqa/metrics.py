"""VQA and VideoQA metrics over the samples' ``pred_answer``."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from mmengine.evaluator import BaseMetric
from mmengine.fileio import dump
from mmengine.logging import print_log
from mmengine.registry import METRICS

from .answers import ScoredQuestion, normalize_answer, vqa_scores


def format_scores(scores: dict) -> str:
    """The overall, per-answer-type and per-question-type accuracies as a small text table."""
    lines = [f'overall: {scores["overall"]:.2f}', 'per answer type:']
    lines += [f'  {k}: {v:.2f}' for k, v in sorted(scores['perAnswerType'].items())]
    lines.append('per question type:')
    lines += [f'  {k}: {v:.2f}' for k, v in sorted(scores['perQuestionType'].items())]
    return '\n'.join(lines)


def metric_key(name: str) -> str:
    """A type name as a metric key suffix ("yes/no" -> "yes_no", "what color is" ->
    "what_color_is")."""
    return '_'.join(name.replace('/', ' ').split())


@METRICS.register_module()
class VQAAccuracy(BaseMetric):
    """The official VQA accuracy (:mod:`mammut_det.vqa.answers`) of ``pred_answer``.

    Each sample carries ``question_id``, ``pred_answer`` and, unless it is from a split without
    annotations (test-dev), ``gt_answers`` (the human answers), ``answer_type`` and
    ``question_type`` (what :class:`~mammut_det.vqa.VQAv2Dataset` packs). Returns ``accuracy``
    and ``accuracy_<answer type>`` (percent, rounded to 2 digits as the official evaluator does)
    and logs the per-question-type table. Without ground truth it only writes the results file.

    Args:
        results_file: where to write the answers in the submission format
            ``[{"question_id": int, "answer": str}]`` (the raw predicted strings).
        scores_file: where to write the scores as JSON (``overall``, ``perAnswerType``,
            ``perQuestionType``, ``perQuestion``).
        collect_device, prefix: as :class:`mmengine.evaluator.BaseMetric`.
    """

    default_prefix = 'vqa'

    def __init__(self, results_file: str | None = None, scores_file: str | None = None,
                 collect_device: str = 'cpu', prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.results_file = results_file
        self.scores_file = scores_file

    def process(self, data_batch: Any, data_samples: Sequence) -> None:
        for s in data_samples:
            answer = s.get('pred_answer')
            if not isinstance(answer, str):
                raise KeyError(f'VQAAccuracy: sample of question {s.get("question_id")} '
                               f'has no pred_answer string (got {answer!r})')
            self.results.append(dict(
                question_id=s.get('question_id'), answer=answer,
                gt_answers=s.get('gt_answers'),
                answer_type=s.get('answer_type'),
                question_type=s.get('question_type')))

    def compute_metrics(self, results: list) -> dict[str, float]:
        if self.results_file:
            dump([dict(question_id=int(r['question_id']), answer=r['answer']) for r in results],
                 self.results_file)
            print_log(f'VQA: wrote {len(results)} answers to {self.results_file}',
                      logger='current')
        labelled = [r for r in results if r['gt_answers']]
        if not labelled:
            print_log('VQA: no ground-truth answers (a test split); nothing to score',
                      logger='current')
            return {}
        if len(labelled) < len(results):
            raise ValueError(f'VQAAccuracy: {len(results) - len(labelled)} of {len(results)} '
                             'samples have no gt_answers; score a split with annotations for '
                             'every question, or one without any')
        scores = vqa_scores(ScoredQuestion(r['question_id'], r['answer'], r['gt_answers'],
                                           r['answer_type'], r['question_type'])
                            for r in labelled)
        print_log(f'VQA accuracy over {len(labelled)} questions\n{format_scores(scores)}',
                  logger='current')
        if self.scores_file:
            dump(scores, self.scores_file)
        out = dict(accuracy=scores['overall'])
        out.update({f'accuracy_{metric_key(k)}': v for k, v in scores['perAnswerType'].items()})
        return out


@METRICS.register_module()
class VideoQAAccuracy(BaseMetric):
    """Open-ended VideoQA accuracy (MSRVTT-QA, MSVD-QA): the percentage of samples whose
    ``pred_answer`` equals one of ``gt_answers`` after the VQA answer normalisation
    (:func:`~mammut_det.vqa.answers.normalize_answer`, applied to both sides).

    Returns ``accuracy`` and, with ``per_question_type``, ``accuracy_<type>`` where the type is
    the sample's ``question_type`` or else the first word of its ``question`` ("what", "who",
    "how", ...).
    """

    default_prefix = 'videoqa'

    def __init__(self, per_question_type: bool = True, collect_device: str = 'cpu',
                 prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.per_question_type = per_question_type

    def process(self, data_batch: Any, data_samples: Sequence) -> None:
        for s in data_samples:
            answer, gts = s.get('pred_answer'), s.get('gt_answers')
            if not isinstance(answer, str) or not gts:
                raise KeyError(f'VideoQAAccuracy: sample of video {s.get("video_id")} '
                               f'needs a pred_answer string and gt_answers (got {answer!r}, '
                               f'{gts!r})')
            qtype = s.get('question_type')
            if not qtype:
                words = str(s.get('question', '')).lower().split()
                qtype = words[0] if words else 'unknown'
            self.results.append(dict(correct=normalize_answer(answer) in
                                     {normalize_answer(a) for a in gts}, question_type=qtype))

    def compute_metrics(self, results: list) -> dict[str, float]:
        def percent(rows: list) -> float:
            return 100.0 * sum(r['correct'] for r in rows) / len(rows)

        out = dict(accuracy=percent(results))
        if self.per_question_type:
            by_type = defaultdict(list)
            for r in results:
                by_type[r['question_type']].append(r)
            out.update({f'accuracy_{metric_key(k)}': percent(v)
                        for k, v in sorted(by_type.items())})
        print_log(f'VideoQA accuracy over {len(results)} questions: '
                  + ', '.join(f'{k} {v:.2f}' for k, v in out.items()), logger='current')
        return out
