"""Zero-shot image classification: a labelled-image dataset and a MaMMUT that scores class
prompts."""
from .classifier import MaMMUTZeroShotClassifier, load_templates
from .dataset import ImageClassDataset

__all__ = ['ImageClassDataset', 'MaMMUTZeroShotClassifier', 'load_templates']
