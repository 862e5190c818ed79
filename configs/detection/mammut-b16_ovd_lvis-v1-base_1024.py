# MaMMUT B/16 open-vocabulary detector on LVIS v1: trained on the base classes (frequent + common),
# evaluated on all 1203 (APr measures the novel, rare classes). 1024 px, large-scale jitter.
# The image tower and text decoder come from a MaMMUT B/16 pretraining checkpoint, read when
# training starts; point to yours with
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH \
#                 model.class_embedder.init_cfg.checkpoint=PATH
# Testing needs only the detector checkpoint.
_base_ = ['../_base_/models/mammut_b16.py', './_base_/mammut_ovd_lvis_1024.py']
pretrained = 'checkpoints/mammut-b16_pretrain.pth'

model = dict(
    _base_.ovd_lvis_detector, _delete_=True,
    data_preprocessor=dict(_base_.ovd_lvis_detector.data_preprocessor,
                           mean=_base_.model.data_preprocessor.mean,
                           std=_base_.model.data_preprocessor.std),
    # pretraining's 14x14 embedding grid -> 14x14 windows; global attention in 4 of 12 blocks
    backbone={**_base_.model.vision, **_base_.ovd_backbone,
              'init_cfg': dict(type='Pretrained', checkpoint=pretrained, prefix='visual.')},
    neck=dict(_base_.ovd_neck, in_channels=_base_.model.vision.width),
    class_embedder=dict(_base_.ovd_class_embedder, text=_base_.model.text,
                        tokenizer=_base_.model.tokenizer,
                        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='text.')))
