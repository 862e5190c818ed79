# The tiny MaMMUT (configs/_base_/models/mammut_tiny.py) on the 16-frame 32 px moving-dot clips:
# MaMMUTTubeViT (frames 4 and 12 plus tubes, jointly) feeding the decoder's cross-attention,
# for tests and the toy configs.
_base_ = ['./mammut_tiny.py']
model = dict(
    type='MaMMUTGenerator',
    vision=dict(type='MaMMUTTubeViT', clip_len=16, img_size=32, use_tubes=True),
    data_preprocessor=dict(_delete_=True, type='ActionDataPreprocessor',
                           mean=_base_.data_preprocessor.mean,
                           std=_base_.data_preprocessor.std, format_shape='NCTHW'))
