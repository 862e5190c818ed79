# The quick setting of the two-pass pretraining (tools/run_experiment.py --quick, the test):
# the same model and data pipeline, a few iterations only.
_base_ = ['./mammut-tiny_two-pass_shapes-world.py']

max_iters = 20
train_dataloader = dict(batch_size=32)
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=5),
    dict(type='CosineAnnealingLR', T_max=max_iters - 5, by_epoch=False, begin=5, end=max_iters,
         eta_min_ratio=0.05),
]
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=max_iters))
