"""Video: the MaMMUT encoder over sparse tubes (TubeViT), action heads, checked video lists.

Importing it registers ``MaMMUTTubeViT`` and ``OpenVocabClsHead`` (MODELS),
``CheckedVideoDataset`` (DATASETS), ``ReadableVideosMetric`` (METRICS) and
``SkippedVideoLoggerHook`` (HOOKS) in MMEngine's root registries, which MMAction2-scoped configs
search.
"""
from .checkpoint import ImageCheckpointReport, load_image_state_dict
from .datasets import CheckedVideoDataset, VideoReadError, is_decode_error
from .heads import VIDEO_TEMPLATES, OpenVocabClsHead
from .hooks import SkippedVideoLoggerHook
from .metrics import ReadableVideosMetric
from .tube_vit import MaMMUTTubeViT
from .tubes import DEFAULT_TUBES, TubeSpec, scale_tubes, sincos_pos_embed_3d

__all__ = ['CheckedVideoDataset', 'DEFAULT_TUBES', 'ImageCheckpointReport', 'MaMMUTTubeViT',
           'OpenVocabClsHead', 'ReadableVideosMetric', 'SkippedVideoLoggerHook', 'TubeSpec',
           'VIDEO_TEMPLATES', 'VideoReadError', 'is_decode_error', 'load_image_state_dict',
           'scale_tubes', 'sincos_pos_embed_3d']
