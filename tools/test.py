"""Test a mammut_det model: ``python tools/test.py CONFIG CHECKPOINT [--out RESULTS.pkl]``.

The command line is MMDetection's ``tools/test.py``; it works for any mammut_det config (detection
with LVISMetric, video with AccMetric, ...). ``--out`` dumps the raw predictions (one dict per
sample, as the evaluator receives them) with MMEngine's ``DumpResults``. On a machine without a
GPU, ``--launcher pytorch`` (torchrun, see ``tools/dist_test.sh``) uses the gloo backend. A
tokenizer whose file the config names but which is absent is taken from the checkpoint's
``meta['tokenizers']`` (written by ``TokenizerMetaHook``).
"""
from __future__ import annotations

import argparse
import inspect
import os.path as osp
import sys

from mmengine.config import Config
from mmengine.evaluator import DumpResults
from mmengine.registry import HOOKS

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import mammut_det  # noqa: E402,F401  (registers every module, applies compat)
from mammut_det.compat import destroy_distributed  # noqa: E402
from mammut_det.engine import restore_tokenizers  # noqa: E402
from mammut_det.engine.cli import ToolArgumentParser, build_runner, load_config  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = ToolArgumentParser('Test (and evaluate) a mammut_det model', 'test config file path',
                                'the dir to save logs and evaluation results')
    parser.add_argument('checkpoint', help="checkpoint file, or 'none' for a config whose "
                        "weights come from its own init_cfg/pretrained keys (zero-shot)")
    parser.add_argument('--out', help='dump the raw predictions to this pickle file (.pkl)')
    parser.add_argument('--show', action='store_true', help='show the predictions in a window')
    parser.add_argument('--show-dir', help='save drawn predictions under WORK_DIR/TIMESTAMP/'
                                           'SHOW_DIR (or SHOW_DIR if absolute)')
    parser.add_argument('--wait-time', type=float, default=2, help='seconds per shown image')
    args = parser.parse_args()
    if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
        parser.error(f'--out must be a .pkl or .pickle file, got {args.out!r}')
    if args.checkpoint != 'none' and not osp.isfile(args.checkpoint):
        parser.error(f'checkpoint {args.checkpoint!r} does not exist')
    return args


def enable_visualization(cfg: Config, args: argparse.Namespace) -> None:
    """Switch on the config's visualization hook, whichever library's it is: MMDetection's
    (``draw``, ``test_out_dir``) or MMAction2's (``enable``, ``out_dir``)."""
    hook = cfg.get('default_hooks', {}).get('visualization')
    if hook is None:
        raise SystemExit('--show/--show-dir need default_hooks.visualization in the config, '
                         'e.g. dict(type="DetVisualizationHook")')
    with HOOKS.switch_scope_and_registry(cfg.get('default_scope')) as registry:
        hook_cls = registry.get(hook['type']) if isinstance(hook['type'], str) else hook['type']
    if hook_cls is None:
        raise SystemExit(f'unknown visualization hook {hook["type"]!r}')
    params = inspect.signature(hook_cls).parameters
    if 'draw' in params:
        hook.draw = True
        hook.test_out_dir = args.show_dir
    elif 'enable' in params:
        hook.enable = True
        hook.out_dir = args.show_dir
    else:
        raise SystemExit(f'do not know how to switch on {hook["type"]!r}')
    if 'show' in params:
        hook.show = args.show
    if 'wait_time' in params:
        hook.wait_time = args.wait_time


def build_config(args: argparse.Namespace) -> Config:
    """Load the config and apply the command-line overrides."""
    cfg = load_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    cfg.load_from = None if args.checkpoint == 'none' else args.checkpoint
    cfg.resume = False
    if cfg.load_from is not None:
        restore_tokenizers(cfg.model, cfg.load_from)
    if args.show or args.show_dir:
        enable_visualization(cfg, args)
    return cfg


def main() -> None:
    args = parse_args()
    cfg = build_config(args)
    runner = build_runner(cfg, args.launcher)
    if args.out is not None:
        runner.test_evaluator.metrics.append(DumpResults(out_file_path=args.out))
    runner.test()
    destroy_distributed()


if __name__ == '__main__':
    main()
