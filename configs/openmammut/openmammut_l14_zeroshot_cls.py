# Zero-shot image classification with the converted openMaMMUT-ViT-L-14 weights (no training):
# each image is scored against the text decoder's embeddings of the class names in prompts.
#   python tools/convert_openmammut.py open_clip_pytorch_model.bin checkpoints/openmammut_l14.pth
#   python tools/test.py configs/openmammut/openmammut_l14_zeroshot_cls.py \
#       checkpoints/openmammut_l14.pth
# Data (ImageNet-1k val as MMPretrain lays it out): data/imagenet/val/*.JPEG and
# data/imagenet/meta/val.txt with "<file> <label>" lines; classnames.txt holds the 1000 readable
# class names in label order, one a line (e.g. open_clip's IMAGENET_CLASSNAMES). For a folder
# per class instead, set ann_file='' (the folders, sorted, give the labels). Prompts: the default
# eight templates, or a text file with one "{}" template a line (e.g. CLIP's 80) via `templates`.
# Preprocessing follows open_clip's eval transform (in _base_/openmammut_l14_eval.py).
_base_ = ['./_base_/openmammut_l14_eval.py']

data_root = 'data/imagenet/'
classes = data_root + 'classnames.txt'
model = dict(type='MaMMUTZeroShotClassifier', classes=classes, templates=None)
test_dataloader = dict(
    dataset=dict(type='ImageClassDataset', data_root=data_root, ann_file='meta/val.txt',
                 data_prefix=dict(img_path='val/'), classes=classes,
                 pipeline={{_base_.test_pipeline}}, test_mode=True))
test_evaluator = dict(type='mmaction.AccMetric',
                      metric_options=dict(top_k_accuracy=dict(topk=(1, 5))))
