"""mammut_det: MaMMUT pretraining, open-vocabulary detection and video on OpenMMLab.

Importing the package applies the upstream workarounds (:mod:`mammut_det.compat`) and registers
every module in MMEngine's root registries, which MMDetection- and MMAction2-scoped configs search.
"""
from . import compat

compat.apply()

from . import (  # noqa: E402,F401
    captioning,
    classification,
    datasets,
    detection,
    engine,
    evaluation,
    generation,
    models,
    text,
    video,
    vqa,
)

__version__ = '0.1.0'
