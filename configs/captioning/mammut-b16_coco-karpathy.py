# MaMMUT B/16 fine-tuned for image captioning on COCO (Karpathy splits) and evaluated on its
# test split with BLEU-4, METEOR, ROUGE-L and CIDEr (beam search, 3 beams). Start from a
# MaMMUT B/16 pretraining checkpoint:
#   bash tools/dist_train.sh configs/captioning/mammut-b16_coco-karpathy.py 8 \
#       --cfg-options load_from=PRETRAIN.pth
#   bash tools/dist_test.sh configs/captioning/mammut-b16_coco-karpathy.py \
#       work_dirs/mammut-b16_coco-karpathy/iter_11000.pth 8
_base_ = ['../_base_/models/mammut_b16.py', './_base_/coco_karpathy.py']
model = dict(_base_.caption_generator)
