"""Score a VQA results file offline with the official VQA accuracy.

    python tools/eval_vqa.py --questions Q.json --annotations A.json --results R.json
                             [--out scores.json]
    python tools/eval_vqa.py --questions Q.json --annotations A.json --baseline
                             [--train-annotations TRAIN_A.json]

Q and A are the VQAv2 questions and annotations files (or any in that layout); R is
``[{"question_id": int, "answer": str}]`` and must answer exactly the annotated questions.
Prints the overall, per-answer-type and per-question-type accuracies (percent, rounded as the
official evaluator rounds them); ``--out`` also writes them as JSON (``overall``,
``perAnswerType``, ``perQuestionType``, ``perQuestion``). ``--baseline`` scores the
majority-answer baselines instead (the most common training answer, overall and per question
type).
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys

from mmengine.fileio import dump

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from mammut_det.vqa import evaluate_vqa_files, majority_baseline  # noqa: E402
from mammut_det.vqa.metrics import format_scores  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--questions', required=True, help='questions JSON (VQAv2 layout)')
    parser.add_argument('--annotations', required=True, help='annotations JSON (VQAv2 layout)')
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument('--results', help='results JSON [{"question_id", "answer"}]')
    what.add_argument('--baseline', action='store_true',
                      help='score the majority-answer baselines instead of a results file')
    parser.add_argument('--train-annotations',
                        help='annotations the baselines take their answers from (default: '
                             '--annotations)')
    parser.add_argument('--out', help='write the scores as JSON here')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.baseline:
        scores = majority_baseline(args.questions, args.annotations, args.train_annotations)
    else:
        scores = evaluate_vqa_files(args.questions, args.annotations, args.results)
        print(format_scores(scores))
    if args.out:
        dump(scores, args.out)
        print(f'scores written to {args.out}')


if __name__ == '__main__':
    main()
