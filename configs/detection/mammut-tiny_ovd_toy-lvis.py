# A tiny MaMMUT detector on the toy LVIS set (python -m mammut_det.detection.toy_lvis
# data/toy_lvis): 128 px images, 8 px patches, 2 blocks (one windowed, one global). For tests and
# a quick look at the whole pipeline on a CPU. Randomly initialised unless you point
# model.backbone.init_cfg / model.class_embedder.init_cfg at a tiny MaMMUT checkpoint (then use
# its tokenizer too).
_base_ = [
    '../_base_/models/mammut_tiny.py',
    './_base_/mammut_ovd_rcnn.py',
    '../_base_/datasets/lvis_v1_ov_detection.py',
    '../_base_/schedules/ovd_lsj_46k.py',
]
data_root = 'data/toy_lvis/'
image_size = (128, 128)
classes = ('red_square', 'green_circle', 'blue_triangle', 'yellow_square', 'white_circle',
           'purple_triangle')
metainfo = dict(classes=classes)
strides = [4, 8, 16, 32]

# the LVIS pipelines of the dataset base at 128 px, with milder scale jitter than its (0.1, 2.0)
train_pipeline = [dict(t, scale=image_size, ratio_range=(0.8, 1.25)) if t.type == 'RandomResize'
                  else dict(t, crop_size=image_size) if t.type == 'RandomCrop'
                  else dict(t, size=image_size) if t.type == 'Pad' else t
                  for t in _base_.train_pipeline]
test_pipeline = [dict(t, scale=image_size) if t.type == 'Resize'
                 else dict(t, size=image_size) if t.type == 'Pad' else t
                 for t in _base_.test_pipeline]
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=train_pipeline,
                              filter_cfg=dict(filter_empty_gt=True, min_size=0))))
val_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/lvis_v1_val.json')
test_evaluator = val_evaluator

model = dict(
    _base_.ovd_detector, _delete_=True, vocabulary=classes,
    data_preprocessor=dict(_base_.ovd_detector.data_preprocessor,
                           mean=_base_.model.data_preprocessor.mean,
                           std=_base_.model.data_preprocessor.std),
    # a 16x16 grid in 6x6 windows (padded to 18x18) in block 0, global attention in block 1
    backbone={**_base_.model.vision, **_base_.ovd_backbone, 'window_size': 6,
              'global_attn_indexes': [1]},
    # strides 4, 8, 16 from the stride-8 map, and 32
    neck=dict(_base_.ovd_neck, in_channels=_base_.model.vision.width, out_channels=32,
              scale_factors=[2.0, 1.0, 0.5], num_outs=4),
    rpn_head=dict(_base_.ovd_rpn_head, in_channels=32, feat_channels=32, num_convs=1,
                  anchor_generator=dict(_base_.ovd_rpn_head.anchor_generator, scales=[6],
                                        strides=strides)),
    roi_head=dict(
        _base_.ovd_roi_head,
        bbox_roi_extractor=dict(_base_.ovd_roi_head.bbox_roi_extractor, out_channels=32,
                                featmap_strides=strides[:3]),
        bbox_head=dict(_base_.ovd_roi_head.bbox_head, in_channels=32, num_shared_convs=0,
                       num_shared_fcs=2, fc_out_channels=64)),
    class_embedder=dict(_base_.ovd_class_embedder, text=_base_.model.text,
                        tokenizer={**_base_.model.tokenizer,
                                   'path': data_root + 'tokenizer.json'}),
    train_cfg=dict(
        _base_.ovd_train_cfg,
        rpn=dict(_base_.ovd_train_cfg.rpn,
                 sampler=dict(_base_.ovd_train_cfg.rpn.sampler, num=64)),
        rpn_proposal=dict(_base_.ovd_train_cfg.rpn_proposal, nms_pre=300, max_per_img=100),
        rcnn=dict(_base_.ovd_train_cfg.rcnn,
                  sampler=dict(_base_.ovd_train_cfg.rcnn.sampler, num=64))),
    test_cfg=dict(
        rpn=dict(_base_.ovd_test_cfg.rpn, nms_pre=300, max_per_img=100),
        rcnn=dict(_base_.ovd_test_cfg.rcnn, max_per_img=100)))

max_iters = 200
train_cfg = dict(max_iters=max_iters, val_interval=100)
optim_wrapper = dict(optimizer=dict(lr=2e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=20),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters, milestones=[160],
         gamma=0.1),
]
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=100))
