"""Image and video captioning: Karpathy-split, grouped and video caption datasets, the
pycocoevalcap caption metric, toy sets.

Importing it registers ``KarpathyCaptionDataset``, ``GroupedCaptionDataset``,
``VideoCaptionDataset`` (DATASETS) and ``CaptionMetric`` (METRICS) in MMEngine's root registries.
"""
from .datasets import GroupedCaptionDataset, KarpathyCaptionDataset, VideoCaptionDataset
from .metrics import CaptionMetric, score_captions
from .toy import make_toy_karpathy, make_toy_video_captions

__all__ = ['CaptionMetric', 'GroupedCaptionDataset', 'KarpathyCaptionDataset',
           'VideoCaptionDataset', 'make_toy_karpathy', 'make_toy_video_captions',
           'score_captions']
