# The quick setting of the contrastive-only ablation: the quick two-pass schedule without the
# generative pass.
_base_ = ['./mammut-tiny_two-pass_shapes-world_quick.py']

custom_hooks = [dict(type='TwoPassScheduleHook', weights=dict(contrastive=1.0, generative=0.0),
                     shuffle=True, cpe_begin=0.5)]
