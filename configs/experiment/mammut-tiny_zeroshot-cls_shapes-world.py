# Zero-shot classification of the shapes world's evaluation boxes by a pretrained tiny MaMMUT,
# without any detector: each box is cropped (tools/run_experiment.py writes the crops and a list
# file under <experiment>/zeroshot/) and scored against the text decoder's embeddings of all 12
# class names of world/classes.txt, rare ones included.
#   python tools/test.py configs/experiment/mammut-tiny_zeroshot-cls_shapes-world.py \
#       work_dirs/experiment/checkpoints/mammut_two-pass.pth
_base_ = ['./mammut-tiny_two-pass_shapes-world.py']

experiment = '{{$MAMMUT_EXPERIMENT:work_dirs/experiment}}'
crops = experiment + '/zeroshot/'
classes = experiment + '/world/classes.txt'
# prompts in the style of the pretraining captions, as the detector's
model = dict(type='MaMMUTZeroShotClassifier', classes=classes,
             templates=['{}', 'a {}', 'a picture of a {}', 'a drawing of a {}'])
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(64, 64)),  # the pretraining resolution
    dict(type='PackCaptionInputs'),
]
test_dataloader = dict(
    _delete_=True, batch_size=64, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='ImageClassDataset', data_root=crops, ann_file='val.txt',
                 data_prefix=dict(img_path='crops/'), classes=classes, pipeline=test_pipeline,
                 test_mode=True))
test_evaluator = dict(_delete_=True, type='mmaction.AccMetric',
                      metric_options=dict(top_k_accuracy=dict(topk=(1, 5))))
