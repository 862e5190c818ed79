# A tiny MaMMUTTubeViT trained from scratch on the moving-dot toy videos (16 frames, 32 px):
# the smallest end-to-end video run, used by tests/test_video_learning.py.
# Data: `python -m mammut_det.video.toy data/toy_video`.
_base_ = ['../_base_/datasets/toy_video.py', '../_base_/schedules/video_toy_adamw.py',
          './_base_/toy_video_runtime.py']
model = dict(
    type='Recognizer3D',
    backbone=dict(type='MaMMUTTubeViT', clip_len=16, img_size=32, patch_size=8, width=64,
                  depth=2, num_heads=2, embed_dim=64, use_tubes=True),
    cls_head=dict(type='TimeSformerHead', num_classes=2, in_channels=64, dropout_ratio=0.0,
                  average_clips='prob', topk=(1,)),
    data_preprocessor=dict(type='ActionDataPreprocessor', mean=[122.8, 116.3, 104.0],
                           std=[68.5, 66.6, 70.3], format_shape='NCTHW'))
