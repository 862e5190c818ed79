"""Registries of mammut_det's own kinds; models, hooks, datasets and transforms go into the root
registries of MMEngine, which MMDetection's and MMAction2's registries search as parents."""
from mmengine.registry import Registry

TOKENIZERS = Registry('tokenizer', locations=['mammut_det.text'])
