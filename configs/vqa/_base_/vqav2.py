# VQAv2 as released (GT-Vision-Lab): questions + annotations JSON per split, COCO 2014 images by
# id. Layout under data/vqav2/:
#   v2_OpenEnded_mscoco_{train2014,val2014,test-dev2015}_questions.json
#   v2_mscoco_{train2014,val2014}_annotations.json
#   train2014/COCO_train2014_000000000009.jpg ...  val2014/  test2015/
# Data, schedule and runtime of VQAv2 fine-tuning: training on train2014, validation on val2014
# (the official VQA accuracy); the test loader answers test-dev (no annotations), for which
# VQAAccuracy writes the submission file only.
_base_ = ['./vqa_task.py', '../../_base_/datasets/image_text_224.py',
          '../../_base_/datasets/generative_loaders.py', '../../_base_/schedules/finetune_adamw.py',
          '../../_base_/generative_runtime.py']

data_root = 'data/vqav2/'
tokenize = dict(type='TokenizePrompted', tokenizer=_base_.clip_tokenizer,
                prompt=_base_.vqa_generator.prompt, target_key='answer')
pack = dict(type='PackCaptionInputs', meta_keys=_base_.vqa_meta_keys)
train_pipeline = _base_.image_train_transforms + [tokenize, pack]
test_pipeline = _base_.image_test_transforms + [tokenize, pack]
vqa_train = dict(type='VQAv2Dataset', data_root=data_root,
                 ann_file='v2_OpenEnded_mscoco_train2014_questions.json',
                 answer_file='v2_mscoco_train2014_annotations.json',
                 img_pattern='COCO_train2014_{image_id:012d}.jpg',
                 data_prefix=dict(img_path='train2014'), pipeline=train_pipeline)
vqa_val = dict(vqa_train, ann_file='v2_OpenEnded_mscoco_val2014_questions.json',
               answer_file='v2_mscoco_val2014_annotations.json',
               img_pattern='COCO_val2014_{image_id:012d}.jpg',
               data_prefix=dict(img_path='val2014'), pipeline=test_pipeline, test_mode=True)
train_dataloader = dict(dataset=vqa_train)
val_dataloader = dict(dataset=vqa_val)
test_dataloader = dict(dataset=dict(
    vqa_val, ann_file='v2_OpenEnded_mscoco_test-dev2015_questions.json', answer_file=None,
    img_pattern='COCO_test2015_{image_id:012d}.jpg', data_prefix=dict(img_path='test2015')))
test_evaluator = dict(type='VQAAccuracy', results_file='work_dirs/vqav2_test-dev_results.json')

# about 10 epochs of VQAv2 train (443,757 questions) at 8 GPUs x 32, warm-up then cosine
max_iters = 140000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=20000)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=2000),
    dict(type='CosineAnnealingLR', T_max=max_iters - 2000, by_epoch=False, begin=2000,
         end=max_iters, eta_min_ratio=0.01),
]
default_hooks = dict(checkpoint=dict(interval=20000))
