# Zero-shot classification of single toy shapes (8 colours x 7 shapes = 56 classes) by a tiny
# MaMMUT pretrained with configs/pretrain/mammut_tiny_toy.py; no training, the class names are
# read by the text decoder. Make the images, then test the pretraining checkpoint:
#   python tools/make_toy_captions.py data/toy_captions --classes-dir data/toy_classes
#   python tools/test.py configs/pretrain/mammut_tiny_toy_zeroshot_cls.py \
#       work_dirs/mammut_tiny_toy/iter_600.pth
_base_ = ['./mammut_tiny_toy.py']

classes_root = 'data/toy_classes/'
classes = classes_root + 'classes.txt'
model = dict(type='MaMMUTZeroShotClassifier', classes=classes,
             templates=['{}', 'a {}', 'a picture of a {}', 'a drawing of a {}'])
test_dataloader = dict(
    batch_size=64, num_workers=1, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(_delete_=True, type='ImageClassDataset', data_root=classes_root,
                 classes=classes, pipeline={{_base_.test_pipeline}}, test_mode=True))
test_evaluator = dict(_delete_=True, type='mmaction.AccMetric',
                      metric_options=dict(top_k_accuracy=dict(topk=(1, 5))))
