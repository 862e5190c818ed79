# Kinetics-400 as video files listed in `path label` lines (mmaction's kinetics400_train_list_
# videos.txt layout), decoded with decord. 32 frames at interval 2, 224 px. Unreadable videos are
# skipped in training (counted in the log), fatal in val/test; missing files are load-time errors.
dataset_type = 'CheckedVideoDataset'
data_root = 'data/kinetics400/videos_train'
data_root_val = 'data/kinetics400/videos_val'
ann_file_train = 'data/kinetics400/kinetics400_train_list_videos.txt'
ann_file_val = 'data/kinetics400/kinetics400_val_list_videos.txt'
ann_file_test = 'data/kinetics400/kinetics400_val_list_videos.txt'
num_classes = 400

# A video shorter than the clip is looped (`out_of_bound_opt='loop'`).
train_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=32, frame_interval=2, num_clips=1,
         out_of_bound_opt='loop'),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='RandomResizedCrop', area_range=(0.3, 1.0)),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
val_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=32, frame_interval=2, num_clips=1, test_mode=True,
         out_of_bound_opt='loop'),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 224)),
    dict(type='CenterCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
# 4 clips x 3 crops per video; the head averages the 12 views' probabilities.
test_pipeline = [dict(t, num_clips=4) if t['type'] == 'SampleFrames'
                 else dict(type='ThreeCrop', crop_size=224) if t['type'] == 'CenterCrop' else t
                 for t in val_pipeline]
train_dataloader = dict(
    batch_size=8, num_workers=8, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, ann_file=ann_file_train,
                 data_prefix=dict(video=data_root), num_classes=num_classes,
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8, num_workers=8, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, ann_file=ann_file_val,
                 data_prefix=dict(video=data_root_val), num_classes=num_classes,
                 pipeline=val_pipeline, test_mode=True))
test_dataloader = dict(val_dataloader, batch_size=1,
                       dataset=dict(val_dataloader['dataset'], ann_file=ann_file_test,
                                    pipeline=test_pipeline))
# top-k and mean class accuracy over the videos that could be read; the unreadable ones are
# skipped, counted and named beside them (acc/videos_skipped, acc/skipped_videos)
val_evaluator = dict(type='ReadableVideosMetric', metric=dict(type='AccMetric'))
test_evaluator = val_evaluator
