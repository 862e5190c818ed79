# Generative video fine-tuning (VideoQA, video captioning) of a pretrained MaMMUT: AdamW, 5
# epochs, one of warm-up then cosine, for 8 GPUs x 8 clips (`--auto-scale-lr` rescales the lr to
# the real batch); the new tube kernels learn 10x faster, the gate is not decayed.
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=5, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=2e-5, betas=(0.9, 0.999),
                                    weight_decay=0.05),
                     clip_grad=dict(max_norm=1.0),
                     paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0,
                                        custom_keys={'pos_gate': dict(decay_mult=0.0),
                                                     'tube_convs': dict(lr_mult=10.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=4, eta_min_ratio=0.01, by_epoch=True, begin=1, end=5,
         convert_to_iter_based=True),
]
auto_scale_lr = dict(enable=False, base_batch_size=64)
