# Open-vocabulary LVIS detector initialised from the converted openMaMMUT-L/14 weights: the image
# tower (`visual.*`, legacy CLS token kept out of the feature map) and the class embedder (`text.*`,
# legacy mean-over-77-positions text features, CLIP tokenizer) both come from it.
#   python tools/convert_openmammut.py open_clip_pytorch_model.bin checkpoints/openmammut_l14.pth
#   bash tools/dist_train.sh configs/openmammut/openmammut_l14_ovd_lvis-v1-base_1024.py 8
_base_ = ['../detection/mammut-l14_ovd_lvis-v1-base_1024.py', './_base_/openmammut_l14_parts.py']
pretrained = 'checkpoints/openmammut_l14.pth'
model = dict(
    data_preprocessor=dict(mean=_base_.om_data_preprocessor.mean,
                           std=_base_.om_data_preprocessor.std),
    backbone=dict(_base_.om_vision, type='MaMMUTViTBackbone',
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='visual.')),
    class_embedder=dict(text=_base_.om_text, tokenizer=_base_.om_tokenizer,
                        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='text.')))
