# MaMMUT B/16 fine-tuned for video captioning on MSRVTT (paper: CIDEr 73.6): the sparse-tube
# video encoder (32 frames, 224 px, once per clip) feeds the decoder's cross-attention; beam
# search (3 beams); BLEU-4, METEOR, ROUGE-L, CIDEr on the test split. From a MaMMUT B/16
# pretraining checkpoint:
#   bash tools/dist_train.sh configs/video_captioning/mammut-b16_tube_msrvtt-caption.py 8 \
#       --cfg-options model.vision.pretrained=PRETRAIN.pth load_from=PRETRAIN.pth
#   bash tools/dist_test.sh configs/video_captioning/mammut-b16_tube_msrvtt-caption.py \
#       work_dirs/mammut-b16_tube_msrvtt-caption/epoch_5.pth 8
_base_ = ['../_base_/models/mammut_b16_video_generator.py', './_base_/msrvtt_caption.py']
model = dict(_base_.video_caption_generator)
