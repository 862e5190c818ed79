# MaMMUT B/16 on Kinetics-400 with sparse tubes: one pass of the image encoder over frame tokens
# (frames 8 and 24) and TubeViT's four tube types on a 32-frame 224 clip (931 tokens), linear head.
# Start from a MaMMUT pretraining checkpoint: its `visual.*` weights load into the backbone, the
# tube kernels are inflated from the patch kernel and the position gate starts at 0; the load
# report lists the new and the ignored keys.
#   python tools/train.py configs/video/tube_mammut_b16_k400.py \
#       --cfg-options model.backbone.pretrained=work_dirs/mammut_b16/iter_100000.pth
_base_ = ['./_base_/tube_mammut_b16.py', '../_base_/datasets/kinetics400.py',
          './_base_/video_runtime.py']
model = dict(
    backbone=dict(type='MaMMUTTubeViT', clip_len=32, use_tubes=True, pretrained=None,
                  pretrained_prefix='visual.', inflate_tubes=True),
    cls_head=dict(num_classes=400))
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=30, val_begin=1, val_interval=3)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0,
                       custom_keys={'pos_gate': dict(decay_mult=0.0),
                                    'positional_embedding': dict(decay_mult=0.0),
                                    'class_embedding': dict(decay_mult=0.0),
                                    'tube_convs': dict(lr_mult=10.0)}),
    clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=3,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=27, eta_min=1e-6, by_epoch=True, begin=3, end=30,
         convert_to_iter_based=True),
]
# lr above is for 8 GPUs x 8 clips; `--auto-scale-lr` rescales it to the actual batch size.
auto_scale_lr = dict(enable=False, base_batch_size=64)
