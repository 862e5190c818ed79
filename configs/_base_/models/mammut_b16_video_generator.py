# MaMMUT B/16 (configs/_base_/models/mammut_b16.py) with the sparse-tube video encoder feeding
# the decoder's cross-attention: MaMMUTTubeViT (frames at a sparse stride plus TubeViT's tubes
# on a 32-frame 224 clip, every token through the shared blocks once per clip), RGB clips from
# decord normalised like the images. Start from a MaMMUT pretraining checkpoint CKPT with
#   --cfg-options model.vision.pretrained=CKPT load_from=CKPT
# (the first loads the image encoder and inflates the tube kernels from its patch kernel, the
# second the decoder and the rest; its report lists the tube kernels and gate as new).
_base_ = ['./mammut_b16.py']
model = dict(
    type='MaMMUTGenerator',
    vision=dict(type='MaMMUTTubeViT', clip_len=32, use_tubes=True, pretrained=None,
                pretrained_prefix='visual.', inflate_tubes=True),
    data_preprocessor=dict(_delete_=True, type='ActionDataPreprocessor',
                           mean=_base_.data_preprocessor.mean,
                           std=_base_.data_preprocessor.std, format_shape='NCTHW'))
