# Open-vocabulary detection fine-tuning: AdamW with ViT layer-wise lr decay, 46.1k iterations
# (RO-ViT's length) at a total batch of 64 (16 workers x 4), linear warm-up, steps at 88% / 96%
# (ViTDet). No weight decay on norms, biases, embeddings and the temperature.
max_iters = 46100
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=5000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='OptimWrapper',
    constructor='LayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.1),
    paramwise_cfg=dict(
        layer_decay_rate=0.7,
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={
            'positional_embedding': dict(decay_mult=0.0),
            'class_embedding': dict(decay_mult=0.0),
            'bg_embedding': dict(decay_mult=0.0),
            'logit_scale': dict(decay_mult=0.0),
        }),
    clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters,
         milestones=[int(max_iters * 0.88), int(max_iters * 0.96)], gamma=0.1),
]
auto_scale_lr = dict(enable=False, base_batch_size=64)
