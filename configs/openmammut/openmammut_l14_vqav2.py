# openMaMMUT-ViT-L-14 fine-tuned for open-ended VQAv2 (see configs/vqa/mammut-b16_vqav2.py),
# from the converted public weights (python tools/convert_openmammut.py ... checkpoints/
# openmammut_l14.pth). The legacy decoder pads every row to its 77 positions.
#   bash tools/dist_train.sh configs/openmammut/openmammut_l14_vqav2.py 8 --auto-scale-lr
#   bash tools/dist_test.sh configs/openmammut/openmammut_l14_vqav2.py \
#       work_dirs/openmammut_l14_vqav2/iter_140000.pth 8
_base_ = ['./openmammut_l14.py', '../vqa/_base_/vqav2.py']
model = dict(_base_.vqa_generator)
load_from = 'checkpoints/openmammut_l14.pth'
# 8 GPUs x 16 for the larger model; with --auto-scale-lr the lr follows (1e-5 at 256 -> 5e-6)
train_dataloader = dict(batch_size=16)
