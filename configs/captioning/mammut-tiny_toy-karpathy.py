# Image captioning on the toy shapes scenes in Karpathy's layout with the tiny MaMMUT, from
# scratch or from a pretraining checkpoint of the same preset (load_from; `model.tokenizer` must
# then be the one it was pretrained with; the model tokenises the captions itself, as in
# configs/vqa/mammut-tiny_toy-vqa.py). Greedy captions; BLEU, ROUGE-L and CIDEr (METEOR and SPICE
# are left out to keep the toy evaluation fast). Used by tests/test_generative_learning.py.
#   python tools/make_toy_generative.py captions data/toy_karpathy
#   python tools/train.py configs/captioning/mammut-tiny_toy-karpathy.py
#   python tools/test.py configs/captioning/mammut-tiny_toy-karpathy.py \
#       work_dirs/mammut-tiny_toy-karpathy/iter_400.pth
_base_ = ['../_base_/models/mammut_tiny.py', './_base_/caption_task.py',
          '../_base_/datasets/generative_loaders.py', '../_base_/schedules/finetune_tiny_adamw.py',
          '../_base_/generative_runtime.py']

data_root = 'data/toy_karpathy/'
tokenizer_cfg = dict(type='BPETokenizer', path=data_root + 'tokenizer.json', context_length=32)
model = dict(_base_.caption_generator, tokenizer=tokenizer_cfg,
             generation=dict(num_beams=1, max_new_tokens=20))
pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(64, 64)),
    dict(type='PackCaptionInputs', meta_keys=_base_.caption_meta_keys),
]
karpathy = dict(type='KarpathyCaptionDataset', data_root=data_root,
                ann_file='dataset_toy.json', data_prefix=dict(img_path=''), pipeline=pipeline)
train_dataloader = dict(num_workers=2, dataset=dict(karpathy, split='train'))
val_dataloader = dict(batch_size=50, num_workers=1,
                      dataset=dict(karpathy, split='val', test_mode=True))
test_dataloader = dict(batch_size=50, num_workers=1,
                       dataset=dict(karpathy, split='test', test_mode=True))
val_evaluator = dict(type='CaptionMetric', scorers=('bleu', 'rouge', 'cider'))
test_evaluator = val_evaluator

