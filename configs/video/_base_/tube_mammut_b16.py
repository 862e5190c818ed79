# Recognizer3D whose backbone has the shape of MaMMUT B/16's image encoder (`vision` of
# configs/_base_/models/mammut_b16.py); the configs that use it turn it into a MaMMUTTubeViT and
# set the clip. Inputs are RGB clips (decord decodes RGB), normalised like the image encoder's.
_base_ = ['../../_base_/models/mammut_b16.py']
model = dict(
    _delete_=True,
    type='Recognizer3D',
    backbone={{_base_.vision}},
    cls_head=dict(type='TimeSformerHead', num_classes=400, in_channels=512, dropout_ratio=0.5,
                  average_clips='prob'),
    data_preprocessor=dict(type='ActionDataPreprocessor', mean=[122.8, 116.3, 104.0],
                           std=[68.5, 66.6, 70.3], format_shape='NCTHW'))
