"""Train a mammut_det model: ``python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]]``.

The command line is MMDetection's ``tools/train.py``. The config chooses the runner: MMEngine's
``Runner`` (DDP under a launcher), or ``runner_type='FlexibleRunner'`` with an ``FSDPStrategy``
or ``DeepSpeedStrategy``. On a machine without a GPU, ``--launcher pytorch`` (torchrun, see
``tools/dist_train.sh``) trains with the gloo backend.
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys

from mmengine.config import Config
from mmengine.logging import print_log

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import mammut_det  # noqa: E402,F401  (registers every module, applies compat)
from mammut_det.compat import destroy_distributed  # noqa: E402
from mammut_det.engine.cli import ToolArgumentParser, build_runner, load_config  # noqa: E402
from mammut_det.engine.precision import AMP_DTYPES, apply_amp  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = ToolArgumentParser('Train a mammut_det model', 'train config file path',
                                'the dir to save logs and models')
    parser.add_argument('--amp', action='store_true',
                        help='mixed-precision training in --amp-dtype, the way the config\'s '
                             'strategy does it (DDP: autocast; FSDP: MixedPrecision; DeepSpeed: '
                             'its bf16/fp16 section)')
    parser.add_argument('--amp-dtype', choices=sorted(AMP_DTYPES), default='bf16',
                        help='bf16: no loss scaling, also on the CPU (default); fp16: dynamic '
                             'loss scaling, needs a GPU')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the learning rate with the total batch size')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from CKPT, or from the latest checkpoint in the work dir '
                             'when no path is given')
    return parser.parse_args()


def build_config(args: argparse.Namespace) -> Config:
    """Load the config and apply the command-line overrides."""
    cfg = load_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    if args.amp:
        print_log(f'mixed precision: {apply_amp(cfg, args.amp_dtype)}', logger='current')
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise SystemExit('--auto-scale-lr needs auto_scale_lr.base_batch_size in the config')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    return cfg


def main() -> None:
    args = parse_args()
    cfg = build_config(args)
    runner = build_runner(cfg, args.launcher)
    if runner.distributed:
        import torch.distributed as dist
        runner.logger.info(f'distributed training: world size {runner.world_size}, '
                           f'backend {dist.get_backend()}')
    runner.train()
    if runner.rank == 0:
        last = osp.join(runner.work_dir, 'last_checkpoint')
        if osp.exists(last):
            with open(last) as f:
                runner.logger.info(f'checkpoint saved to {f.read().strip()}')
    destroy_distributed()


if __name__ == '__main__':
    main()
