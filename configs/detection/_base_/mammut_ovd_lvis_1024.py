# The MaMMUT open-vocabulary detector on LVIS v1 at 1024 px: trained on the base classes (frequent
# + common; the rare classes' boxes are dropped), evaluated on all 1203 (APr measures the novel,
# rare classes); large-scale jitter, ViTDet's schedule. A preset lists a model base
# (configs/_base_/models/mammut_*.py) before this file and builds `model` from
# `ovd_lvis_detector` with that base's shapes: mammut-b16_ovd_lvis-v1-base_1024.py.
_base_ = ['./mammut_ovd_rcnn.py', '../../_base_/datasets/lvis_v1_ov_detection.py',
          '../../_base_/schedules/ovd_lsj_46k.py']
ovd_lvis_detector = dict(
    _base_.ovd_detector, vocabulary='lvis_v1',
    data_preprocessor=dict(_base_.ovd_detector.data_preprocessor,
                           batch_augments=[dict(type='BatchFixedSizePad', size=_base_.image_size)]))
