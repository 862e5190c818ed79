"""Image-caption data for MaMMUT pretraining: the datasets (annotation file, WebDataset shards),
their transforms and the toy set."""
from .caption import CaptionDataset
from .shards import WebCaptionDataset
from .toy_captions import make_toy_captions, make_toy_classes
from .transforms import PackCaptionInputs, RandomResizedCrop, TokenizeCaption

__all__ = ['CaptionDataset', 'PackCaptionInputs', 'RandomResizedCrop', 'TokenizeCaption',
           'WebCaptionDataset', 'make_toy_captions', 'make_toy_classes']
