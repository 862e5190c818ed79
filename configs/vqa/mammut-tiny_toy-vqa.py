# Open-ended VQA on the toy shapes scenes ("what colour is the star?", "how many circles are
# there?", "what shape is the red object?", "is there a blue square?") with the tiny MaMMUT:
# a few hundred iterations from scratch, or from a pretraining checkpoint of the same preset
# (load_from; `model.tokenizer` must then be the one it was pretrained with). The model
# tokenises question and answer itself, so the tokenizer is named in one place only (the 224 px
# presets tokenise in the data workers). Used by tests/test_generative_learning.py.
#   python tools/make_toy_generative.py vqa data/toy_vqa     # prints the majority baselines
#   python tools/train.py configs/vqa/mammut-tiny_toy-vqa.py  # [--cfg-options load_from=CKPT]
#   python tools/test.py configs/vqa/mammut-tiny_toy-vqa.py \
#       work_dirs/mammut-tiny_toy-vqa/iter_400.pth
_base_ = ['../_base_/models/mammut_tiny.py', './_base_/vqa_task.py',
          '../_base_/datasets/generative_loaders.py', '../_base_/schedules/finetune_tiny_adamw.py',
          '../_base_/generative_runtime.py']

data_root = 'data/toy_vqa/'
tokenizer_cfg = dict(type='BPETokenizer', path=data_root + 'tokenizer.json', context_length=32)
model = dict(_base_.vqa_generator, tokenizer=tokenizer_cfg)
pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(64, 64)),
    dict(type='PackCaptionInputs', meta_keys=_base_.vqa_meta_keys),
]
vqa_train = dict(type='VQAv2Dataset', data_root=data_root,
                 ann_file='v2_OpenEnded_toy_train_questions.json',
                 answer_file='v2_toy_train_annotations.json',
                 img_pattern='toy_train_{image_id:012d}.png',
                 data_prefix=dict(img_path='images/train'), pipeline=pipeline)
train_dataloader = dict(num_workers=2, dataset=vqa_train)
val_dataloader = dict(
    batch_size=100, num_workers=1,
    dataset=dict(vqa_train, ann_file='v2_OpenEnded_toy_val_questions.json',
                 answer_file='v2_toy_val_annotations.json',
                 img_pattern='toy_val_{image_id:012d}.png',
                 data_prefix=dict(img_path='images/val'), test_mode=True))
test_dataloader = val_dataloader
