# Two-pass MaMMUT pretraining of the tiny preset on the shapes world's image-caption pairs
# (python tools/run_experiment.py draws the world; the captions name every class, rare ones too).
# The experiment folder comes from the environment: MAMMUT_EXPERIMENT=work_dirs/experiment.
_base_ = ['../_base_/models/mammut_tiny.py', '../_base_/datasets/caption_pairs.py',
          '../_base_/schedules/pretrain_tiny_adamw.py', '../_base_/pretrain_runtime.py']

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
train_dataloader = dict(num_workers=1, dataset=dict(data_root=data_root, tokenizer=tokenizer,
                                                    pipeline=train_pipeline))
val_dataloader = dict(num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
# the world's captions repeat (many scenes read alike): an identical caption of another image
# counts as a hit
val_evaluator = dict(match_identical_captions=True)
test_evaluator = val_evaluator

max_iters = 1000
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
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
