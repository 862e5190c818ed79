# Two-pass MaMMUT pretraining of the tiny preset on the generated toy image-caption set.
# Make the data first: python tools/make_toy_captions.py data/toy_captions
_base_ = ['../_base_/models/mammut_tiny.py', '../_base_/pretrain_runtime.py']

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
train_dataloader = dict(
    batch_size=64, num_workers=2, persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    # the tokenizer only serves to warn (file:line) about captions it will truncate
    dataset=dict(type='CaptionDataset', data_root=data_root, ann_file='train.jsonl',
                 tokenizer={{_base_.tokenizer_cfg}}, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=100, num_workers=1, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='CaptionDataset', data_root=data_root, ann_file='val.jsonl',
                 pipeline=test_pipeline, test_mode=True))
# the generated captions repeat (many images read "a red circle"): an identical caption of
# another image counts as a hit
val_evaluator = dict(type='RetrievalMetric', topk=(1, 5), match_identical_captions=True)
test_dataloader = val_dataloader
test_evaluator = val_evaluator

max_iters = 600
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=300)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=2e-3, betas=(0.9, 0.98),
                                    weight_decay=0.05),
                     clip_grad=dict(max_norm=1.0),
                     paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0,
                                        custom_keys={'logit_scale': dict(decay_mult=0.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', T_max=max_iters - 50, by_epoch=False, begin=50,
         end=max_iters, eta_min_ratio=0.05),
]
default_hooks = dict(checkpoint=dict(interval=300))
