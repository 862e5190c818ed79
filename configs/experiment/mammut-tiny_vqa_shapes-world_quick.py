# The quick setting of the VQA fine-tuning (tools/run_experiment.py --quick, the test).
_base_ = ['./mammut-tiny_vqa_shapes-world.py']

max_iters = 30
train_dataloader = dict(batch_size=16, num_workers=0, persistent_workers=False)
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=5),
    dict(type='CosineAnnealingLR', T_max=max_iters - 5, by_epoch=False, begin=5, end=max_iters,
         eta_min_ratio=0.05),
]
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=max_iters))
