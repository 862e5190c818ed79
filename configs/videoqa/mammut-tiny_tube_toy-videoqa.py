# Open-ended VideoQA on the moving-dot clips ("which way does the dot move?", only motion tells;
# "what colour is the dot?", any frame tells) with the tiny MaMMUT and sparse tubes, from
# scratch. Its frames-only twin (mammut-tiny_frames_toy-videoqa.py) cannot tell the direction.
# Used by tests/test_generative_learning.py.
#   python tools/make_toy_generative.py videoqa data/toy_videoqa
#   python tools/train.py configs/videoqa/mammut-tiny_tube_toy-videoqa.py
#   python tools/test.py configs/videoqa/mammut-tiny_tube_toy-videoqa.py \
#       work_dirs/mammut-tiny_tube_toy-videoqa/epoch_12.pth
_base_ = ['../_base_/models/mammut_tiny_video_generator.py', './_base_/videoqa_task.py',
          '../_base_/datasets/toy_video_clips.py', '../_base_/schedules/video_toy_adamw.py',
          '../video/_base_/toy_video_runtime.py']

data_root = 'data/toy_videoqa/'
tokenizer_cfg = dict(type='BPETokenizer', path=data_root + 'tokenizer.json', context_length=32)
model = dict(_base_.videoqa_generator, tokenizer=tokenizer_cfg)
tokenize = dict(type='TokenizePrompted', tokenizer=tokenizer_cfg,
                prompt=_base_.videoqa_generator.prompt, target_key='answer')
train_pipeline = _base_.toy_clip_train_transforms + [tokenize, _base_.videoqa_pack]
test_pipeline = _base_.toy_clip_test_transforms + [tokenize, _base_.videoqa_pack]
train_dataloader = dict(
    batch_size=16, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='VideoQADataset', ann_file=data_root + 'train_qa.json',
                 data_prefix=dict(video=data_root + 'videos'), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='VideoQADataset', ann_file=data_root + 'val_qa.json',
                 data_prefix=dict(video=data_root + 'videos'), pipeline=test_pipeline,
                 test_mode=True))
test_dataloader = val_dataloader
