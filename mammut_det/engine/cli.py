"""What ``tools/train.py`` and ``tools/test.py`` share: MMDetection's common command-line
arguments, loading a config with their overrides, and distributed settings that work without a
GPU."""
from __future__ import annotations

import argparse
import os
import os.path as osp
from collections.abc import Sequence

import torch
from mmengine.config import Config, ConfigDict, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from .. import compat
from .strategies import strategy_type


class ToolArgumentParser(argparse.ArgumentParser):
    """An argument parser with the arguments MMDetection's ``tools/train.py`` and
    ``tools/test.py`` share: ``config``, ``--work-dir``, ``--cfg-options``, ``--launcher`` and
    ``--local_rank``/``--local-rank``. Parsing sets ``LOCAL_RANK`` in the environment from
    ``--local-rank`` unless a launcher already set it. Add the tool's own arguments after
    constructing it (positional ones follow ``config``)."""

    def __init__(self, description: str, config_help: str, work_dir_help: str) -> None:
        super().__init__(description=description)
        self.add_argument('config', help=config_help)
        self.add_argument('--work-dir', help=work_dir_help)
        self.add_argument('--cfg-options', nargs='+', action=DictAction,
                          help='override config settings, key=value pairs (xxx=yyy format)')
        self.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                          default='none', help='job launcher')
        self.add_argument('--local_rank', '--local-rank', type=int, default=0)

    def parse_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                   namespace: argparse.Namespace | None = None) -> argparse.Namespace:
        parsed = super().parse_args(args, namespace)
        os.environ.setdefault('LOCAL_RANK', str(parsed.local_rank))
        return parsed


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
        if strategy_type(cfg) == 'FSDPStrategy':
            cfg.strategy = compat.cpu_fsdp_strategy(cfg.strategy)
    if strategy_type(cfg) == 'DeepSpeedStrategy':
        compat.stub_deepspeed_onebit()
        check_deepspeed_load_from(cfg.get('load_from'))
    return cfg


def check_deepspeed_load_from(load_from: str | None) -> None:
    """mmengine's ``DeepSpeedStrategy`` loads and resumes only DeepSpeed checkpoint folders
    (``iter_N.pth/``); given a file it fails deep inside DeepSpeed (``assert len(self.ckpt_list)
    > 0``). Say so before the run starts."""
    if load_from and osp.isfile(load_from):
        raise SystemExit(f'DeepSpeedStrategy loads only DeepSpeed checkpoint folders, and '
                         f'{load_from} is a file: to start from its weights, use '
                         f"model.init_cfg=dict(type='Pretrained', checkpoint='{load_from}') "
                         'instead of load_from/--resume')


def build_runner(cfg: Config, launcher: str) -> Runner:
    """The config's runner (``runner_type`` or MMEngine's ``Runner``), after starting gloo for
    ``--launcher pytorch`` on a machine without a GPU."""
    compat.init_cpu_distributed(launcher)
    return Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
