"""Image-caption data for MaMMUT pretraining: the dataset, its transforms and the toy set."""
from .caption import CaptionDataset
from .toy_captions import make_toy_captions, make_toy_classes
from .transforms import PackCaptionInputs, RandomResizedCrop, TokenizeCaption

__all__ = ['CaptionDataset', 'PackCaptionInputs', 'RandomResizedCrop', 'TokenizeCaption',
           'make_toy_captions', 'make_toy_classes']
