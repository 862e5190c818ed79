"""VQAv2 as released (questions + annotations JSON, COCO images) and MSRVTT-QA / MSVD-QA lists."""
from __future__ import annotations

import os.path as osp
from collections import Counter
from collections.abc import Iterator
from functools import partial
from typing import Any

from mmengine.dataset import BaseDataset
from mmengine.fileio import get_text, join_path
from mmengine.registry import DATASETS

from ..datasets.caption import BadSample
from ..datasets.checks import (
    check_on_bad_sample,
    gather_samples,
    load_json,
    require_file,
    require_keys,
    require_text,
)
from ..video.annotated import AnnotatedVideoDataset


def majority_answer(answers: list[str]) -> str:
    """The most frequent of ``answers`` (raw strings); a tie goes to the one given first, which
    is mmpretrain's ``COCOVQA`` order (``Counter`` keys) with the highest weight taken first."""
    return Counter(answers).most_common(1)[0][0]


@DATASETS.register_module()
class VQAv2Dataset(BaseDataset):
    """VQAv2 (or any set in its layout): one sample per question.

    Files, as released::

        questions (ann_file)   {"questions": [{"image_id", "question", "question_id"}, ...]}
        annotations            {"annotations": [{"question_id", "image_id", "answers":
                                 [{"answer", "answer_confidence", "answer_id"} x 10],
                                 "multiple_choice_answer", "answer_type", "question_type"}]}

    Images are found by COCO id through ``img_pattern`` under ``data_prefix['img_path']`` (or the
    questions file's folder). Samples follow the annotations file's order (the official
    evaluator's, so that summed accuracies are bit-equal), else the questions'. A data info
    holds ``img_path``, ``img_id``, ``question_id``, ``question`` and, with annotations:
    ``answer`` (the training target, :func:`majority_answer` of the 10), ``gt_answers`` (the 10
    raw answers), ``answer_type``, ``question_type``. Without an annotation file (test-dev,
    test-std) there are no answers.

    A question without an annotation (when there is an annotation file), an annotation without
    answers, a missing key, a repeated question id or a missing image is an error naming the file,
    the entry index and the question id; ``on_bad_sample='skip'`` logs and drops such questions.

    Args:
        ann_file: the questions JSON (joined to ``data_root`` when relative).
        answer_file: the annotations JSON, or ``None``/``''`` for a split without answers.
        img_pattern: image file name from ``image_id`` (a ``str.format`` pattern).
        on_bad_sample: ``'error'`` or ``'skip'``.
        check_files: whether every image must exist when the questions are loaded.
        backend_args: MMEngine file backend arguments.
        **kwargs: :class:`mmengine.dataset.BaseDataset` arguments (``data_root``,
            ``data_prefix``, ``pipeline``, ``test_mode``, ``indices``, ...).
    """

    def __init__(self, ann_file: str, answer_file: str | None = None,
                 img_pattern: str = 'COCO_val2014_{image_id:012d}.jpg',
                 on_bad_sample: str = 'error', check_files: bool = True,
                 backend_args: dict | None = None, **kwargs: Any) -> None:
        self.on_bad_sample = check_on_bad_sample('VQAv2Dataset', on_bad_sample)
        data_root = kwargs.get('data_root') or ''
        self.answer_file = (join_path(data_root, answer_file)
                            if answer_file and data_root and not osp.isabs(answer_file)
                            else answer_file or None)
        self.img_pattern = img_pattern
        self.check_files = check_files
        self.backend_args = backend_args
        self.num_skipped = 0
        super().__init__(ann_file=ann_file, **kwargs)

    def load_data_list(self) -> list[dict]:
        """Join questions and annotations into data infos, checking every question."""
        if not self.ann_file:
            raise ValueError('VQAv2Dataset: ann_file (the questions JSON) is required')
        questions = self._entries(self.ann_file, 'questions')
        annotations = self._annotations() if self.answer_file else None
        img_root = self.data_prefix.get('img_path') or osp.dirname(self.ann_file)
        seen: set = set()
        candidates = (partial(self._info, i, q, annotations, img_root, seen)
                      for i, q in enumerate(questions))
        infos, self.num_skipped = gather_samples(candidates, self.on_bad_sample, self.ann_file)
        if annotations is not None:  # the official evaluator's order, so that sums are equal
            infos.sort(key=lambda info: annotations[info['question_id']][0])
        return infos

    def _entries(self, path: str, key: str) -> list:
        data = load_json(get_text(path, backend_args=self.backend_args), path)
        if not isinstance(data, dict) or not isinstance(data.get(key), list):
            raise ValueError(f'{path}: expected an object with a "{key}" list (the VQAv2 '
                             f'{key} file)')
        return data[key]

    def _annotations(self) -> dict:
        """question id -> (index, annotation)."""
        by_id = {}
        for k, ann in enumerate(self._entries(self.answer_file, 'annotations')):
            if not isinstance(ann, dict) or ann.get('question_id') is None:
                raise ValueError(f'{self.answer_file}: annotations[{k}] is not an object with '
                                 'a "question_id"')
            by_id[ann['question_id']] = (k, ann)
        return by_id

    def _info(self, index: int, question: Any, annotations: dict | None, img_root: str,
              seen: set) -> dict:
        qid = question.get('question_id') if isinstance(question, dict) else None
        where = f'{self.ann_file}: questions[{index}] (question_id {qid})'
        require_keys(where, question, ('question_id', 'image_id', 'question'))
        if qid in seen:
            raise BadSample(f'{where}: question_id {qid} appears more than once')
        seen.add(qid)
        img_path = join_path(img_root, self.img_pattern.format(image_id=question['image_id']))
        info = dict(img_path=img_path, img_id=question['image_id'], question_id=qid,
                    question=require_text(where, 'question', question['question']))
        if annotations is not None:
            info.update(self._answers(where, qid, question['image_id'], annotations))
        if self.check_files:
            require_file(where, img_path, self.backend_args)
        return info

    def _answers(self, where: str, qid: Any, image_id: Any, annotations: dict) -> dict:
        if qid not in annotations:
            raise BadSample(f'{where}: question has no annotation in {self.answer_file}')
        k, ann = annotations[qid]
        at = f'{self.answer_file}: annotations[{k}] (question_id {qid})'
        require_keys(at, ann, ('answers', 'answer_type', 'question_type'))
        if ann.get('image_id', image_id) != image_id:
            raise BadSample(f'{at}: image_id {ann["image_id"]} differs from the question\'s '
                            f'{image_id}')
        if not isinstance(ann['answers'], list) or not ann['answers']:
            raise BadSample(f'{at}: the question has no answers')
        answers = [a.get('answer') if isinstance(a, dict) else None for a in ann['answers']]
        for j, a in enumerate(answers):
            if not isinstance(a, str):
                raise BadSample(f'{at}: answers[{j}] has no "answer" string')
        return dict(answer=majority_answer(answers), gt_answers=answers,
                    answer_type=ann['answer_type'], question_type=ann['question_type'])


@DATASETS.register_module()
class VideoQADataset(AnnotatedVideoDataset):
    """Open-ended VideoQA lists (MSRVTT-QA, MSVD-QA): a JSON list of
    ``{"video" or "video_id", "question", "answer"}`` (optional ``question_id``, else the entry
    index; optional ``question_type``). Videos are read through ``pipeline`` (MMAction2's
    decord transforms), see :class:`~mammut_det.video.annotated.AnnotatedVideoDataset` for the
    video file names and bad-file handling.

    A data info holds ``filename``, ``video_id``, ``question_id``, ``question``, ``answer``,
    ``gt_answers=[answer]`` and ``question_type`` when the entry gives one.
    """

    def _candidates(self, text: str) -> Iterator:
        for index, (line, entry) in enumerate(self.json_entries(text)):
            yield partial(self._info, index, line, entry)

    def _info(self, index: int, line: int, entry: Any) -> dict:
        where = f'{self.ann_file}:{line}'
        require_keys(where, entry, ('question', 'answer'))
        info = self.video_info(where, line, entry)
        answer = require_text(where, 'answer', entry['answer'])
        info.update(question_id=entry.get('question_id', entry.get('id', index)),
                    question=require_text(where, 'question', entry['question']),
                    answer=answer, gt_answers=[answer])
        if entry.get('question_type'):
            info['question_type'] = entry['question_type']
        return info
