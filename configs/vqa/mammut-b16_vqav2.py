# MaMMUT B/16 fine-tuned for open-ended VQAv2: the question is the teacher-forced prompt, the
# answer is generated after it (greedy) and scored with the official VQA accuracy. Start from a
# MaMMUT B/16 pretraining checkpoint:
#   bash tools/dist_train.sh configs/vqa/mammut-b16_vqav2.py 8 --cfg-options load_from=PRETRAIN.pth
#   bash tools/dist_test.sh configs/vqa/mammut-b16_vqav2.py \
#       work_dirs/mammut-b16_vqav2/iter_140000.pth 8        # test-dev answers for the server
#   python tools/eval_vqa.py --questions ... --annotations ... --results RESULTS.json
_base_ = ['../_base_/models/mammut_b16.py', './_base_/vqav2.py']
model = dict(_base_.vqa_generator)
