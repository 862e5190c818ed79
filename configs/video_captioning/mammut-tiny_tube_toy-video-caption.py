# Video captioning on the moving-dot clips ("a red dot moves to the left", five phrasings each,
# MSRVTT's layout) with the tiny MaMMUT and sparse tubes, from scratch; greedy captions, BLEU,
# ROUGE-L and CIDEr.
#   python tools/make_toy_generative.py video_captions data/toy_video_captions
#   python tools/train.py configs/video_captioning/mammut-tiny_tube_toy-video-caption.py
#   python tools/test.py configs/video_captioning/mammut-tiny_tube_toy-video-caption.py \
#       work_dirs/mammut-tiny_tube_toy-video-caption/epoch_12.pth
_base_ = ['../_base_/models/mammut_tiny_video_generator.py', './_base_/video_caption_task.py',
          '../_base_/datasets/toy_video_clips.py', '../_base_/schedules/video_toy_adamw.py',
          '../video/_base_/toy_video_runtime.py']

data_root = 'data/toy_video_captions/'
tokenizer_cfg = dict(type='BPETokenizer', path=data_root + 'tokenizer.json', context_length=32)
model = dict(_base_.video_caption_generator, tokenizer=tokenizer_cfg,
             generation=dict(num_beams=1, max_new_tokens=16))
tokenize = dict(type='TokenizePrompted', tokenizer=tokenizer_cfg,
                prompt=_base_.video_caption_generator.prompt, target_key='caption')
msrvtt = dict(type='VideoCaptionDataset', ann_file=data_root + 'videodatainfo.json',
              data_prefix=dict(video=data_root + 'videos'))
train_dataloader = dict(
    batch_size=16, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(msrvtt, split='train', pipeline=_base_.toy_clip_train_transforms + [
        tokenize, _base_.video_caption_pack]))
val_dataloader = dict(
    batch_size=32, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(msrvtt, split='validate', test_mode=True,
                 pipeline=_base_.toy_clip_test_transforms + [tokenize,
                                                             _base_.video_caption_pack]))
test_dataloader = val_dataloader
val_evaluator = dict(type='CaptionMetric', scorers=('bleu', 'rouge', 'cider'))
test_evaluator = val_evaluator
