# Recognizer3D whose backbone has the shape of MaMMUT B/16's image encoder (`model.vision` of
# configs/_base_/models/mammut_b16.py); the configs that use it turn it into a MaMMUTTubeViT and
# set the clip. Inputs are RGB clips (decord decodes RGB), normalised like the image encoder's.
_base_ = ['../../_base_/models/mammut_b16.py']
# The text side of the same MaMMUT, for open-vocabulary heads (TextClassEmbedder).
mammut_text = {{_base_.model.text}}
mammut_tokenizer = {{_base_.model.tokenizer}}
model = dict(
    _delete_=True,
    type='Recognizer3D',
    backbone={{_base_.model.vision}},
    cls_head=dict(type='TimeSformerHead', num_classes=400, in_channels=512, dropout_ratio=0.5,
                  average_clips='prob'),
    data_preprocessor=dict(type='ActionDataPreprocessor',
                           mean={{_base_.model.data_preprocessor.mean}},
                           std={{_base_.model.data_preprocessor.std}}, format_shape='NCTHW'))
