# Pieces of the MaMMUT open-vocabulary detector (ViTDet-style Faster R-CNN, text classifier) and the
# runtime. A preset combines them with a model base (configs/_base_/models/mammut_*.py) for the
# backbone and text shapes, a dataset and a schedule; see mammut_ovd_lvis_1024.py.
default_scope = 'mmdet'
custom_imports = dict(imports=['mammut_det.detection'], allow_failed_imports=False)

# detection-only backbone settings, merged into the model base's `vision`
ovd_backbone = dict(type='MaMMUTViTBackbone', window_size=14, global_attn_indexes=[2, 5, 8, 11],
                    frozen_stages=-1, with_cp=False)
ovd_neck = dict(type='SimpleFeaturePyramid', out_channels=256, scale_factors=[4.0, 2.0, 1.0, 0.5],
                num_outs=5, norm_cfg=dict(type='LN2d'))
ovd_rpn_head = dict(
    type='RPNHead', in_channels=256, feat_channels=256, num_convs=2,
    anchor_generator=dict(type='AnchorGenerator', scales=[8], ratios=[0.5, 1.0, 2.0],
                          strides=[4, 8, 16, 32, 64]),
    bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0, 0.0, 0.0, 0.0],
                    target_stds=[1.0, 1.0, 1.0, 1.0]),
    loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
    loss_bbox=dict(type='L1Loss', loss_weight=1.0))
ovd_roi_head = dict(
    type='OVRoIHead',
    bbox_roi_extractor=dict(type='SingleRoIExtractor',
                            roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=0),
                            out_channels=256, featmap_strides=[4, 8, 16, 32]),
    # ViTDet's 4conv1fc head with LayerNorm; the classifier is the text (embed_dim from it)
    bbox_head=dict(
        type='OVBBoxHead', in_channels=256, num_shared_convs=4, num_shared_fcs=1,
        conv_out_channels=256, fc_out_channels=1024, roi_feat_size=7, norm_cfg=dict(type='LN2d'),
        init_temperature=0.02,
        bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0, 0.0, 0.0, 0.0],
                        target_stds=[0.1, 0.1, 0.2, 0.2]),
        loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
        loss_bbox=dict(type='L1Loss', loss_weight=1.0)))
ovd_train_cfg = dict(
    rpn=dict(
        assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.3,
                      match_low_quality=True, ignore_iof_thr=-1),
        sampler=dict(type='RandomSampler', num=256, pos_fraction=0.5, neg_pos_ub=-1,
                     add_gt_as_proposals=False),
        allowed_border=-1, pos_weight=-1, debug=False),
    rpn_proposal=dict(nms_pre=2000, max_per_img=1000, nms=dict(type='nms', iou_threshold=0.7),
                      min_bbox_size=0),
    rcnn=dict(
        assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.5, min_pos_iou=0.5,
                      match_low_quality=False, ignore_iof_thr=-1),
        sampler=dict(type='RandomSampler', num=512, pos_fraction=0.25, neg_pos_ub=-1,
                     add_gt_as_proposals=True),
        pos_weight=-1, debug=False))
# LVIS evaluation keeps up to 300 detections per image; at most 10000 (box, class) pairs go to NMS
ovd_test_cfg = dict(
    rpn=dict(nms_pre=1000, max_per_img=1000, nms=dict(type='nms', iou_threshold=0.7),
             min_bbox_size=0),
    rcnn=dict(score_thr=0.0001, nms=dict(type='nms', iou_threshold=0.5), max_per_img=300,
              max_candidates=10000))
# F-VLM's fusion of detection and VLM scores: det^(1-w) * vlm^w. The VLM score pools the
# fine-tuned backbone's map (source='backbone'), the best of the three settings in the main job's
# comparison (tools/run_experiment.py, detector (a), seed 0; APr / APc / APf / AP, %):
#   'backbone' (the fine-tuned backbone)                 20.3 / 50.1 / 48.6 / 39.5
#   'pretrained' (frozen copy of the pretrained tower)    14.9 / 40.1 / 42.4 / 32.6  (same weights)
#   F-VLM's frozen backbone (frozen_stages = depth)       15.9 / 42.8 / 37.2 / 31.5  (trained apart)
# and 'pretrained' costs a second backbone forward per test image and the tower's weights
# (benchmarks/vlm_tower_cost.py, B/16 at 512 px: test time x1.27, checkpoint x1.50).
ovd_vlm_score = dict(source='backbone', weight_base=0.35, weight_novel=0.65, temperature=0.01,
                     roi_size=7)
# text embeddings of the vocabulary are cached here (keyed by weights, templates and classes)
ovd_class_embedder = dict(type='TextClassEmbedder', templates=None, prefix='text.',
                          cache_dir='work_dirs/class_embeddings', batch_size=256)
# the detector; a preset adds its vocabulary and the model base's shapes (see
# mammut_ovd_lvis_1024.py)
ovd_detector = dict(
    type='MaMMUTDetector',
    data_preprocessor=dict(type='DetDataPreprocessor', bgr_to_rgb=True, pad_size_divisor=32),
    backbone=ovd_backbone, neck=ovd_neck, rpn_head=ovd_rpn_head, roi_head=ovd_roi_head,
    class_embedder=ovd_class_embedder, vlm_score=ovd_vlm_score, train_cfg=ovd_train_cfg,
    test_cfg=ovd_test_cfg)

# runtime
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=5000, max_keep_ckpts=3,
                    save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='DetVisualizationHook'))
# the vocabulary follows the dataset; checkpoints carry the tokenizer (meta['tokenizers']), so
# tools/test.py and the inference API run them when the config's tokenizer file is absent
custom_hooks = [dict(type='OpenVocabularyHook'), dict(type='TokenizerMetaHook')]
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='nccl'))
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='DetLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
