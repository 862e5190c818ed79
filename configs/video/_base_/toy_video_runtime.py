# The video runtime for the toy clips: a log line every 8 iterations, the last checkpoint only.
_base_ = ['./video_runtime.py']
default_hooks = dict(logger=dict(interval=8),
                     checkpoint=dict(interval=12, save_best=None, max_keep_ckpts=1))
