# Zero-shot image-text retrieval with the converted openMaMMUT-ViT-L-14 weights (no training).
#   python tools/convert_openmammut.py open_clip_pytorch_model.bin checkpoints/openmammut_l14.pth
#   python tools/test.py configs/openmammut/openmammut_l14_zeroshot_retrieval.py \
#       checkpoints/openmammut_l14.pth
# Annotations: one JSON object per line, {"image": "val2014/xxx.jpg", "caption": "..."} (e.g. the
# Karpathy test split of COCO, one line per caption; or a COCO captions .json). The lines are
# grouped by image (group_by_image): each image is encoded once and, as the standard protocol
# counts, image->text hits when any of its captions is in the top k, text->image when the
# caption's own image is. Preprocessing follows open_clip's eval transform
# (in _base_/openmammut_l14_eval.py).
_base_ = ['./_base_/openmammut_l14_eval.py']

data_root = 'data/coco/'
test_dataloader = dict(
    dataset=dict(type='CaptionDataset', data_root=data_root,
                 ann_file='annotations/coco_karpathy_test.jsonl',
                 data_prefix=dict(img_path=''), pipeline={{_base_.test_pipeline}},
                 group_by_image=True, test_mode=True))
test_evaluator = dict(type='RetrievalMetric', topk=(1, 5, 10))
