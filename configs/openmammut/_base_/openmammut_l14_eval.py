# What the zero-shot evaluation presets share: the converted weights, open_clip's eval transform
# (shorter side to 224, bicubic, PIL; centre crop 224; CLIP mean/std in the model preset), a test
# loader of pseudo-collated samples and the test runtime. Each preset sets the dataset and metric.
_base_ = ['../openmammut_l14.py']

custom_imports = dict(imports=['mammut_det'], allow_failed_imports=False)
default_scope = 'mmengine'
load_from = 'checkpoints/openmammut_l14.pth'

model = dict(test_cfg=dict(generate_captions=False))
test_pipeline = [
    dict(type='LoadImageFromFile'),
    # keep_ratio with a long-side limit that is never reached: the shorter side becomes 224
    dict(type='Resize', scale=(224 * 100, 224), keep_ratio=True, interpolation='bicubic',
         backend='pillow'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackCaptionInputs'),
]
test_dataloader = dict(
    batch_size=32, num_workers=4, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'))
test_cfg = dict(type='TestLoop')

default_hooks = dict(timer=dict(type='IterTimerHook'), logger=dict(type='LoggerHook', interval=20))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='nccl'))
log_processor = dict(type='LogProcessor', window_size=20, by_epoch=False)
log_level = 'INFO'
