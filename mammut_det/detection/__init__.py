"""Open-vocabulary detection: the MaMMUT ViT as an MMDetection backbone, ViTDet's simple
pyramid, a text-embedding box classifier, the test-time VLM score, LVIS base/novel training and
any COCO-format set with its own class names."""
from .backbone import MaMMUTViTBackbone, window_partition, window_unpartition
from .class_embedder import TextClassEmbedder
from .coco_ov import CocoOVDataset
from .detector import MaMMUTDetector
from .hooks import OpenVocabularyHook
from .layer_decay import LayerDecayOptimWrapperConstructor, vit_layer_id
from .lvis import LVISV1OVDataset
from .ov_bbox_head import OVBBoxHead, TextEmbeddingClassifier, fuse_scores
from .roi_head import OVRoIHead
from .simple_fpn import LayerNorm2d, SimpleFeaturePyramid
from .toy_lvis import TOY_LVIS_CLASSES, make_toy_lvis
from .vocabulary import DEFAULT_TEMPLATES, check_vocabulary, load_vocabulary, lvis_v1_classes

__all__ = [
    'CocoOVDataset',
    'DEFAULT_TEMPLATES', 'LVISV1OVDataset', 'LayerDecayOptimWrapperConstructor', 'LayerNorm2d',
    'MaMMUTDetector', 'MaMMUTViTBackbone', 'OVBBoxHead', 'OVRoIHead',
    'OpenVocabularyHook', 'SimpleFeaturePyramid', 'TOY_LVIS_CLASSES', 'TextClassEmbedder',
    'TextEmbeddingClassifier', 'check_vocabulary', 'fuse_scores', 'load_vocabulary',
    'lvis_v1_classes', 'make_toy_lvis', 'vit_layer_id', 'window_partition', 'window_unpartition',
]
