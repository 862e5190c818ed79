# Two-pass MaMMUT pretraining of the tiny preset on the shapes world's image-caption pairs
# (python tools/run_experiment.py draws the world; the captions name every class, rare ones too).
# The experiment folder comes from the environment: MAMMUT_EXPERIMENT=work_dirs/experiment.
_base_ = ['../_base_/models/mammut_tiny.py', '../_base_/pretrain_runtime.py']

experiment = '{{$MAMMUT_EXPERIMENT:work_dirs/experiment}}'
data_root = experiment + '/world/pretrain/'
# the world's captions are at most 15 tokens long (start and end included)
tokenizer = dict(type='BPETokenizer', path=experiment + '/world/tokenizer.json', context_length=16)
# CPE crops from the embedding upsampled to the detector's 128 px input
model = dict(tokenizer=tokenizer, text=dict(context_length=16),
             vision=dict(cpe=dict(full_size=128)), test_cfg=dict(generate_captions=False))
# the world draws whole scenes at 64 px; crops could cut a named object out, flips keep captions
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackCaptionInputs'),
]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackCaptionInputs')]
train_dataloader = dict(
    batch_size=64, num_workers=1, persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='CaptionDataset', data_root=data_root, ann_file='train.jsonl',
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=100, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='CaptionDataset', data_root=data_root, ann_file='val.jsonl',
                 pipeline=test_pipeline, test_mode=True))
val_evaluator = dict(type='RetrievalMetric', topk=(1, 5))
test_dataloader = val_dataloader
test_evaluator = val_evaluator

max_iters = 1000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
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
# equal weights, shuffled order (the paper's); cropped positional embedding in the second half
custom_hooks = [dict(type='TwoPassScheduleHook', weights=dict(contrastive=1.0, generative=1.0),
                     shuffle=True, cpe_begin=0.5)]
default_hooks = dict(logger=dict(interval=25),
                     checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
randomness = dict(seed=0)
