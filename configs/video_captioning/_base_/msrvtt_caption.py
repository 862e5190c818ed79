# Data, schedule (5 epochs) and runtime of video captioning fine-tuning on MSRVTT (standard
# split: 6,513 train, 497 validate, 2,990 test videos, 20 captions each), from its own files:
#   data/msrvtt/annotations/train_val_videodatainfo.json, test_videodatainfo.json
#   data/msrvtt/videos/all/video0.mp4 ...
# Training has one sample per caption, evaluation one per video with all its references.
_base_ = ['./video_caption_task.py', '../../_base_/datasets/video_text_224.py',
          '../../video/_base_/video_runtime.py',
          '../../_base_/schedules/video_finetune_adamw.py']

ann_root = 'data/msrvtt/annotations/'
tokenize = dict(type='TokenizePrompted', tokenizer=_base_.clip_tokenizer,
                prompt=_base_.video_caption_generator.prompt, target_key='caption')
captions = dict(type='VideoCaptionDataset', data_prefix=dict(video='data/msrvtt/videos/all'),
                video_pattern='{}.mp4')
train_dataloader = dict(
    batch_size=8, num_workers=8, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(captions, ann_file=ann_root + 'train_val_videodatainfo.json', split='train',
                 pipeline=_base_.video_train_transforms + [tokenize,
                                                           _base_.video_caption_pack]))
val_dataloader = dict(
    batch_size=8, num_workers=8, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(captions, ann_file=ann_root + 'train_val_videodatainfo.json',
                 split='validate', test_mode=True,
                 pipeline=_base_.video_test_transforms + [tokenize, _base_.video_caption_pack]))
test_dataloader = dict(val_dataloader, dataset=dict(
    val_dataloader['dataset'], ann_file=ann_root + 'test_videodatainfo.json', split='test'))
test_evaluator = dict(type='CaptionMetric', results_file='work_dirs/msrvtt_test_captions.json')
