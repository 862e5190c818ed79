# Data, schedule and runtime of captioning fine-tuning on COCO captions in Karpathy's splits
# (dataset_coco.json: 113,287 train + restval images, 5,000 val, 5,000 test, about 5 captions
# each). Layout under data/coco/:
#   annotations/dataset_coco.json   train2014/COCO_train2014_*.jpg   val2014/COCO_val2014_*.jpg
# Training has one sample per caption; evaluation one per image with its references. The
# prompt "a photo of" is teacher-forced before every caption (as open_clip's CoCa captions are
# prompted), the caption is generated after it.
_base_ = ['./caption_task.py', '../../_base_/datasets/image_text_224.py',
          '../../_base_/datasets/generative_loaders.py', '../../_base_/schedules/finetune_adamw.py',
          '../../_base_/generative_runtime.py']

caption_generator = dict(prompt='a photo of')
data_root = 'data/coco/'
tokenize = dict(type='TokenizePrompted', tokenizer=_base_.clip_tokenizer,
                prompt=caption_generator['prompt'],
                target_key='caption')
pack = dict(type='PackCaptionInputs', meta_keys=_base_.caption_meta_keys)
train_pipeline = _base_.image_train_transforms + [tokenize, pack]
test_pipeline = _base_.image_test_transforms + [tokenize, pack]
karpathy = dict(type='KarpathyCaptionDataset', data_root=data_root,
                ann_file='annotations/dataset_coco.json', data_prefix=dict(img_path=''))
train_dataloader = dict(dataset=dict(karpathy, split=('train', 'restval'),
                                     pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(karpathy, split='val', pipeline=test_pipeline,
                                   test_mode=True))
test_dataloader = dict(dataset=dict(karpathy, split='test', pipeline=test_pipeline,
                                    test_mode=True))
test_evaluator = dict(type='CaptionMetric',
                      results_file='work_dirs/coco_karpathy_test_captions.json')

# about 5 epochs of the 566,747 training captions at 8 GPUs x 32, warm-up then cosine
max_iters = 11000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=2000)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=500),
    dict(type='CosineAnnealingLR', T_max=max_iters - 500, by_epoch=False, begin=500,
         end=max_iters, eta_min_ratio=0.01),
]
default_hooks = dict(checkpoint=dict(interval=2000))
