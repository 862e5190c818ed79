# The quick setting of the detector fine-tuning (tools/run_experiment.py --quick, the test).
_base_ = ['./mammut-tiny_ovd_shapes-world.py']

max_iters = 20
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False)
test_dataloader = dict(num_workers=0)
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=5),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters, milestones=[15], gamma=0.1),
]
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=max_iters))
