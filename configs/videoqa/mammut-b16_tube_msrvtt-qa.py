# MaMMUT B/16 fine-tuned for open-ended VideoQA on MSRVTT-QA (paper: 49.5): the sparse-tube
# video encoder (32 frames, 224 px, once per clip) feeds the decoder's cross-attention, the
# question is the teacher-forced prompt and the answer is generated (greedy); accuracy is the
# exact match after the VQA answer normalisation. From a MaMMUT B/16 pretraining checkpoint:
#   bash tools/dist_train.sh configs/videoqa/mammut-b16_tube_msrvtt-qa.py 8 \
#       --cfg-options model.vision.pretrained=PRETRAIN.pth load_from=PRETRAIN.pth
#   bash tools/dist_test.sh configs/videoqa/mammut-b16_tube_msrvtt-qa.py \
#       work_dirs/mammut-b16_tube_msrvtt-qa/epoch_5.pth 8
_base_ = ['../_base_/models/mammut_b16_video_generator.py', './_base_/msrvtt_qa.py']
model = dict(_base_.videoqa_generator)
