# Zero-shot Kinetics-400 with the converted openMaMMUT-L/14 weights and no video training: the
# sparse-tube video backbone takes the image tower (`visual.*`; tube kernels inflated from the
# patch kernel, gate 0) and the clip feature is scored against the text decoder's embeddings of
# the 400 class names (`text.*`, legacy mean-over-77-positions features).
#   python tools/convert_openmammut.py open_clip_pytorch_model.bin checkpoints/openmammut_l14.pth
#   python tools/test.py configs/openmammut/openmammut_l14_tube_k400_zeroshot.py \
#       checkpoints/openmammut_l14.pth
_base_ = ['../video/tube_mammut_b16_k400_zeroshot.py', './_base_/openmammut_l14_parts.py']
mammut_checkpoint = 'checkpoints/openmammut_l14.pth'
model = dict(
    backbone=dict(_base_.om_vision, type='MaMMUTTubeViT', clip_len=32, use_tubes=True,
                  pretrained=mammut_checkpoint, pretrained_prefix='visual.', inflate_tubes=True),
    cls_head=dict(in_channels=_base_.om_vision.embed_dim,
                  embedder=dict(text=_base_.om_text, tokenizer=_base_.om_tokenizer,
                                checkpoint=mammut_checkpoint)),
    data_preprocessor=dict(mean=_base_.om_data_preprocessor.mean,
                           std=_base_.om_data_preprocessor.std))
