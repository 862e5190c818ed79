# Runtime of MaMMUT pretraining: iteration-based loop, the two-pass schedule hook, retrieval val.
_base_ = ['./iter_runtime.py']
# The order of the two passes is shuffled every iteration; weights are equal (paper default).
custom_hooks = [dict(type='TwoPassScheduleHook', weights=dict(contrastive=1.0, generative=1.0),
                     shuffle=True)]
