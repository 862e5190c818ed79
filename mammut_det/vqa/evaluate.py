"""Offline scoring of a VQA results file against the released questions and annotations."""
from __future__ import annotations

import logging

from mmengine.fileio import get_text
from mmengine.logging import print_log

from ..datasets.checks import load_json
from .answers import ScoredQuestion, vqa_scores
from .datasets import VQAv2Dataset


def load_results(path: str) -> dict:
    """question id -> answer from a results file ``[{"question_id": int, "answer": str}]``; a
    repeated question id keeps its last answer (as the official ``loadRes`` index does), with a
    warning."""
    results = load_json(get_text(path), path)
    if not isinstance(results, list):
        raise ValueError(f'{path}: results must be a list of {{"question_id", "answer"}} objects')
    answers: dict = {}
    repeated = 0
    for k, r in enumerate(results):
        if (not isinstance(r, dict) or r.get('question_id') is None
                or not isinstance(r.get('answer'), str)):
            raise ValueError(f'{path}: entry {k} is not an object with a "question_id" and an '
                             f'"answer" string: {r!r}')
        repeated += r['question_id'] in answers
        answers[r['question_id']] = r['answer']
    if repeated:
        print_log(f'{path}: {repeated} repeated question ids; the last answer of each counts',
                  logger='current', level=logging.WARNING)
    return answers


def evaluate_vqa_files(questions: str, annotations: str, results: str) -> dict:
    """Official VQA accuracies (:func:`~mammut_det.vqa.answers.vqa_scores`) of ``results``.

    As the official evaluator requires, the results must answer exactly the annotated
    questions; a missing or unknown question id is an error naming a few of them.
    """
    gt = VQAv2Dataset(questions, answer_file=annotations, check_files=False,
                      serialize_data=False).data_list
    answers = load_results(results)
    expected = [g['question_id'] for g in gt]
    missing = [q for q in expected if q not in answers]
    unknown = sorted(set(answers) - set(expected), key=str)
    if missing or unknown:
        raise ValueError(f'{results} does not answer exactly the questions of {annotations}: '
                         f'{len(missing)} missing (e.g. {missing[:5]}), {len(unknown)} unknown '
                         f'(e.g. {unknown[:5]})')
    return vqa_scores(ScoredQuestion(g['question_id'], answers[g['question_id']], g['gt_answers'],
                                     g['answer_type'], g['question_type']) for g in gt)
