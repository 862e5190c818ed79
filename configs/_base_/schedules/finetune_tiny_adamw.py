# The tiny models' generative fine-tuning schedule (toy captioning and VQA): pretraining's AdamW
# for 400 iterations, 40 of warm-up then cosine decay, validation at the end.
_base_ = ['./pretrain_tiny_adamw.py']
max_iters = 400
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=40),
    dict(type='CosineAnnealingLR', T_max=max_iters - 40, by_epoch=False, begin=40,
         end=max_iters, eta_min_ratio=0.05),
]
