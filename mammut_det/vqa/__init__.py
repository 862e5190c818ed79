"""VQA and VideoQA: the VQAv2 and MSRVTT-QA/MSVD-QA datasets, the official VQA accuracy, toy sets.

Importing it registers ``VQAv2Dataset``, ``VideoQADataset`` (DATASETS) and ``VQAAccuracy``,
``VideoQAAccuracy`` (METRICS) in MMEngine's root registries.
"""
from .answers import normalize_answer, question_accuracy, vqa_scores
from .datasets import VideoQADataset, VQAv2Dataset, majority_answer
from .evaluate import evaluate_vqa_files
from .metrics import VideoQAAccuracy, VQAAccuracy
from .toy import majority_baseline, make_toy_videoqa, make_toy_vqa

__all__ = ['VQAAccuracy', 'VQAv2Dataset', 'VideoQAAccuracy', 'VideoQADataset',
           'evaluate_vqa_files', 'majority_answer', 'majority_baseline', 'make_toy_videoqa',
           'make_toy_vqa', 'normalize_answer', 'question_accuracy', 'vqa_scores']
