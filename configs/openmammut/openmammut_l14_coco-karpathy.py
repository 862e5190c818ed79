# openMaMMUT-ViT-L-14 fine-tuned for COCO captioning (Karpathy splits; see
# configs/captioning/mammut-b16_coco-karpathy.py), from the converted public weights.
#   bash tools/dist_train.sh configs/openmammut/openmammut_l14_coco-karpathy.py 8 --auto-scale-lr
#   bash tools/dist_test.sh configs/openmammut/openmammut_l14_coco-karpathy.py \
#       work_dirs/openmammut_l14_coco-karpathy/iter_11000.pth 8
# Zero-shot captions of the public weights, no fine-tuning:
#   python tools/test.py configs/openmammut/openmammut_l14_coco-karpathy.py \
#       checkpoints/openmammut_l14.pth
_base_ = ['./openmammut_l14.py', '../captioning/_base_/coco_karpathy.py']
model = dict(_base_.caption_generator)
load_from = 'checkpoints/openmammut_l14.pth'
# 8 GPUs x 16 for the larger model; with --auto-scale-lr the lr follows (1e-5 at 256 -> 5e-6)
train_dataloader = dict(batch_size=16)
