# Two-pass MaMMUT pretraining of the tiny preset on the generated toy image-caption set.
# Make the data first: python tools/make_toy_captions.py data/toy_captions
_base_ = ['../_base_/models/mammut_tiny.py', '../_base_/datasets/caption_pairs.py',
          '../_base_/schedules/pretrain_tiny_adamw.py', '../_base_/pretrain_runtime.py']

data_root = 'data/toy_captions/'
model = dict(test_cfg=dict(generate_captions=False))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.6, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),  # captions never say left/right
    dict(type='PackCaptionInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(64, 64)),
    dict(type='PackCaptionInputs'),
]
train_dataloader = dict(dataset=dict(data_root=data_root, tokenizer={{_base_.tokenizer_cfg}},
                                     pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(data_root=data_root, pipeline=test_pipeline))
# the generated captions repeat (many images read "a red circle"): an identical caption of
# another image counts as a hit
val_evaluator = dict(match_identical_captions=True)
test_dataloader = val_dataloader
test_evaluator = val_evaluator
default_hooks = dict(checkpoint=dict(interval=300))
