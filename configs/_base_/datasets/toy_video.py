# The moving-dot toy videos (`python -m mammut_det.video.toy data/toy_video`): 16 frames of
# 32 px, two classes told apart only by the direction of motion. No flips: a flip swaps the labels.
dataset_type = 'CheckedVideoDataset'
data_root = 'data/toy_video'
clip_len = 16
classes = ('moving left', 'moving right')
train_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=clip_len, frame_interval=1, num_clips=1,
         out_of_bound_opt='loop'),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(32, 32), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
val_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=clip_len, frame_interval=1, num_clips=1, test_mode=True,
         out_of_bound_opt='loop'),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(32, 32), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
train_dataloader = dict(
    batch_size=16, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, ann_file=data_root + '/train.txt',
                 data_prefix=dict(video=data_root + '/videos'), classes=classes,
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, ann_file=data_root + '/val.txt',
                 data_prefix=dict(video=data_root + '/videos'), classes=classes,
                 pipeline=val_pipeline, test_mode=True))
test_dataloader = val_dataloader
# accuracy over the videos that could be read, the skipped ones counted and named beside it
val_evaluator = dict(type='ReadableVideosMetric',
                     metric=dict(type='AccMetric', metric_list=('top_k_accuracy',),
                                 metric_options=dict(top_k_accuracy=dict(topk=(1,)))))
test_evaluator = val_evaluator
