# The moving-dot toy videos (`python -m mammut_det.video.toy data/toy_video`): 16 frames of
# 32 px, two classes told apart only by the direction of motion. No flips: a flip swaps the labels.
_base_ = ['./toy_video_clips.py']
dataset_type = 'CheckedVideoDataset'
data_root = 'data/toy_video'
clip_len = _base_.toy_clip_len
classes = ('moving left', 'moving right')
train_pipeline = _base_.toy_clip_train_transforms + [dict(type='PackActionInputs')]
val_pipeline = _base_.toy_clip_test_transforms + [dict(type='PackActionInputs')]
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
