# The quick setting of the generative-only ablation: the quick two-pass schedule without the
# contrastive pass.
_base_ = ['./mammut-tiny_two-pass_shapes-world_quick.py']

custom_hooks = [dict(type='TwoPassScheduleHook', weights=dict(contrastive=0.0, generative=1.0),
                     shuffle=True, cpe_begin=0.5)]
