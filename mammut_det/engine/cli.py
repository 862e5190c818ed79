"""What ``tools/train.py`` and ``tools/test.py`` share: loading a config with MMDetection's
command-line overrides, and distributed settings that work without a GPU."""
from __future__ import annotations

import os.path as osp

import torch
from mmengine.config import Config, ConfigDict

from .. import compat


def load_config(path: str, cfg_options: dict | None, work_dir: str | None,
                launcher: str) -> Config:
    """Read ``path``, merge ``--cfg-options``, set the launcher and the work dir (default
    ``./work_dirs/CONFIG_NAME``), and on a machine without a GPU make ``--launcher pytorch`` use
    gloo and a device-less DDP wrapper (see :func:`mammut_det.compat.init_cpu_distributed`)."""
    cfg = Config.fromfile(path)
    cfg.launcher = launcher
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(path))[0])
    if launcher == 'pytorch' and not torch.cuda.is_available():
        cfg.setdefault('env_cfg', ConfigDict()).setdefault('dist_cfg', {})['backend'] = 'gloo'
        cfg.model_wrapper_cfg = dict(compat.CPU_DDP_WRAPPER)
    return cfg
