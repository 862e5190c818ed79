# MaMMUT L/14 (e.g. converted openMaMMUT-L/14 weights) open-vocabulary detector on LVIS v1, base
# classes for training, all 1203 for evaluation; 1024 px, large-scale jitter. Patch 14 gives a
# stride-14 map (73 x 73 at 1024 px), so the pyramid strides are 3.5, 7, 14, 28, 56.
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH \
#                 model.class_embedder.init_cfg.checkpoint=PATH
_base_ = ['../_base_/models/mammut_l14.py', './_base_/mammut_ovd_lvis_1024.py']
pretrained = 'checkpoints/mammut-l14_pretrain.pth'
strides = [3.5, 7, 14, 28, 56]

model = dict(
    _base_.ovd_lvis_detector, _delete_=True,
    data_preprocessor=dict(_base_.ovd_lvis_detector.data_preprocessor,
                           mean=_base_.model.data_preprocessor.mean,
                           std=_base_.model.data_preprocessor.std),
    # pretraining's 16x16 embedding grid -> 16x16 windows; global attention in 4 of 24 blocks
    backbone={**_base_.model.vision, **_base_.ovd_backbone, 'window_size': 16,
              'global_attn_indexes': [5, 11, 17, 23],
              'init_cfg': dict(type='Pretrained', checkpoint=pretrained, prefix='visual.')},
    neck=dict(_base_.ovd_neck, in_channels=_base_.model.vision.width),
    rpn_head=dict(_base_.ovd_rpn_head,
                  anchor_generator=dict(_base_.ovd_rpn_head.anchor_generator, strides=strides)),
    roi_head=dict(_base_.ovd_roi_head,
                  bbox_roi_extractor=dict(_base_.ovd_roi_head.bbox_roi_extractor,
                                          featmap_strides=strides[:4])),
    class_embedder=dict(_base_.ovd_class_embedder, text=_base_.model.text,
                        tokenizer=_base_.model.tokenizer,
                        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='text.')))

optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.8))
