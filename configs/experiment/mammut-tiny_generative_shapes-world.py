# The generative-only arm of the pretraining ablation: the two-pass schedule with the contrastive
# pass switched off by its weight, so only the captioning loss trains the model (the paper's
# "generative only" row of its cross-task table).
_base_ = ['./mammut-tiny_two-pass_shapes-world.py']

custom_hooks = [dict(type='TwoPassScheduleHook', weights=dict(contrastive=0.0, generative=1.0),
                     shuffle=True, cpe_begin=0.5)]
