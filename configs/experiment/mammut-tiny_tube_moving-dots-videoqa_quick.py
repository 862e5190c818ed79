# The quick setting of the video arm's VideoQA (tools/run_experiment.py --ablations --quick).
_base_ = ['./mammut-tiny_tube_moving-dots-videoqa.py']

train_cfg = dict(max_epochs=2, val_interval=2)
param_scheduler = [dict(type='CosineAnnealingLR', T_max=2, eta_min=1e-5, by_epoch=True, begin=0,
                        end=2, convert_to_iter_based=True)]
default_hooks = dict(checkpoint=dict(interval=2))
