# Zero-shot image-text retrieval with the converted openMaMMUT-ViT-L-14 weights (no training).
#   python tools/convert_openmammut.py open_clip_pytorch_model.bin checkpoints/openmammut_l14.pth
#   python tools/test.py configs/openmammut/openmammut_l14_zeroshot_retrieval.py \
#       checkpoints/openmammut_l14.pth
# Annotations: one JSON object per line, {"image": "val2014/xxx.jpg", "caption": "..."} (e.g. the
# Karpathy test split of COCO, one line per caption; or a COCO captions .json); for Karpathy's own
# dataset_coco.json use dict(type='KarpathyCaptionDataset', split='test', ...) instead. The
# captions are grouped by image (GroupedCaptionDataset): each image is encoded once with all its
# captions, and, as the standard protocol counts, image->text hits when any of its captions is
# in the top k, text->image when the caption's own image is. Preprocessing follows open_clip's
# eval transform (in _base_/openmammut_l14_eval.py).
_base_ = ['./_base_/openmammut_l14_eval.py']

data_root = 'data/coco/'
test_pipeline = [*_base_.test_pipeline[:-1],
                 dict(type='PackCaptionInputs', meta_keys=('caption', 'gt_captions', 'img_path',
                                                           'img_id'))]
test_dataloader = dict(
    dataset=dict(type='GroupedCaptionDataset', data_root=data_root,
                 ann_file='annotations/coco_karpathy_test.jsonl',
                 data_prefix=dict(img_path=''), pipeline=test_pipeline, test_mode=True))
test_evaluator = dict(type='RetrievalMetric', topk=(1, 5, 10))
