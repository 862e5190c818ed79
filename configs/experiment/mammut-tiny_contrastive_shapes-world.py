# The ablation of the two-pass pretraining: the same schedule with the generative (captioning)
# pass switched off by its weight, so only the focal contrastive loss trains the model.
_base_ = ['./mammut-tiny_two-pass_shapes-world.py']

custom_hooks = [dict(type='TwoPassScheduleHook', weights=dict(contrastive=1.0, generative=0.0),
                     shuffle=True, cpe_begin=0.5)]
