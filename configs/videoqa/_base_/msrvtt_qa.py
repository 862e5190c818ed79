# Data, schedule (5 epochs) and runtime of open-ended VideoQA fine-tuning on MSRVTT-QA (Xu et
# al. 2017): {train,val,test}_qa.json lists of {"video_id": 7010, "question", "answer", "id",
# ...} whose integer ids name MSRVTT's videos video7010.mp4. Layout:
#   data/msrvtt_qa/{train,val,test}_qa.json    data/msrvtt/videos/all/video0.mp4 ...
# A missing video, a malformed entry or a question without an answer is an error naming the
# file and line. Unreadable videos are skipped in training (counted in the log); in evaluation
# CheckedVideoDataset decides (see README, "Generative tasks").
_base_ = ['./videoqa_task.py', '../../_base_/datasets/video_text_224.py',
          '../../video/_base_/video_runtime.py',
          '../../_base_/schedules/video_finetune_adamw.py']

ann_root = 'data/msrvtt_qa/'
video_root = 'data/msrvtt/videos/all'
tokenize = dict(type='TokenizePrompted', tokenizer=_base_.clip_tokenizer,
                prompt=_base_.videoqa_generator.prompt, target_key='answer')
videoqa = dict(type='VideoQADataset', data_prefix=dict(video=video_root),
               video_pattern='video{}.mp4')
train_dataloader = dict(
    batch_size=8, num_workers=8, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(videoqa, ann_file=ann_root + 'train_qa.json',
                 pipeline=_base_.video_train_transforms + [tokenize, _base_.videoqa_pack]))
val_dataloader = dict(
    batch_size=8, num_workers=8, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(videoqa, ann_file=ann_root + 'val_qa.json', test_mode=True,
                 pipeline=_base_.video_test_transforms + [tokenize, _base_.videoqa_pack]))
test_dataloader = dict(val_dataloader,
                       dataset=dict(val_dataloader['dataset'], ann_file=ann_root + 'test_qa.json'))
