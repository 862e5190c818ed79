# Runtime shared by iteration-based training of MaMMUT models (pretraining, generative
# fine-tuning): logging, checkpoints every `interval` iterations, seeding.
# 'mmengine', not None: None takes whatever scope was set last in the process (e.g. mmaction's,
# whose RandomResizedCrop differs); our modules are in MMEngine's root registries
default_scope = 'mmengine'
custom_imports = dict(imports=['mammut_det'], allow_failed_imports=False)
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=500, by_epoch=False, max_keep_ckpts=2,
                    save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='nccl'))
log_processor = dict(type='LogProcessor', window_size=20, by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)
