"""The miniature open-vocabulary experiment in one command.

    python tools/run_experiment.py [--quick] [--seeds N] [--ablations] [--out-dir DIR]
                                   [--jobs 2] [--threads 1] [--force] [--redo STAGE ...]

Draws a world of coloured shapes, pretrains the tiny MaMMUT on its image-caption pairs (two
passes, and contrastive only and generative only for the ablation), fine-tunes the
open-vocabulary detector on the base classes from (a) the two-pass checkpoint, (b) the
contrastive-only one and (c) random initialisation, evaluates all three with LVIS box AP (AP, APr,
APc, APf) through tools/test.py, runs tools/infer.py on held-out images with a typed vocabulary;
fine-tunes toy VQA drawn in the same world from (a), (b), (c) and (d) the generative-only
checkpoint and scores it with the official VQA accuracy, captions held-out images greedily; and
writes DIR/report.md (and report.html, results.json, loss plots, a detection grid, captions).

--seeds N runs every stage with randomness under training seeds 0..N-1 (the world is drawn once;
seed 0's stages are the one-seed run's, reused when there) and the report gives each number's
mean and standard deviation and, for each claim, the paired difference with a 95% interval.
--ablations (with --seeds 3 unless given) adds the paper's and RO-ViT's design choices, each
against the default: cropped positional embedding off, InfoNCE instead of the focal loss, 1, 2
or 4 cross-attention blocks in a 4-layer decoder, loss weights 2:1 and 1:2, tubes vs frames only
on moving-dot clips (recognition and VideoQA), and the VLM score's source; one table of claims.

Each stage runs the real tool as a subprocess, logs to DIR/logs/<stage>.log (echoed here) and
leaves DIR/stages/<stage>.json when it finishes; running the command again reuses finished
stages (an interrupted run resumes), and a changed setting or config reruns what it affects.
DIR defaults to work_dirs/experiment (work_dirs/experiment_quick with --quick); --ablations
and --seeds share it (a stage that is the same run is run once).
"""
from __future__ import annotations

import argparse
import os.path as osp
import resource
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
from mammut_det.experiment import Experiment, Pipeline, StageFailed  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true',
                        help='the small setting (a few minutes; what the test runs)')
    parser.add_argument('--seeds', type=int,
                        help='training seeds 0..N-1, means and paired intervals in the report '
                             '(default 1, or 3 with --ablations)')
    parser.add_argument('--ablations', action='store_true',
                        help="the paper's and RO-ViT's design choices against the default, "
                             'over the same seeds, in one table')
    parser.add_argument('--out-dir', help='experiment folder (default work_dirs/experiment, '
                                          'or work_dirs/experiment_quick with --quick)')
    parser.add_argument('--jobs', type=int, default=2,
                        help='stages run side by side when they do not depend on each other')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch threads of each tool process (OMP_NUM_THREADS); part of '
                             'each stage\'s signature, as results may differ in the last bits')
    parser.add_argument('--force', action='store_true', help='rerun every stage')
    parser.add_argument('--redo', nargs='+', default=[], metavar='STAGE',
                        help='rerun these stages (and whatever depends on them)')
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.threads < 1:
        parser.error('--jobs and --threads must be >= 1')
    if args.seeds is None:
        args.seeds = 3 if args.ablations else 1
    if args.seeds < 1:
        parser.error('--seeds must be >= 1')
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    profile = 'quick' if args.quick else 'default'
    out_dir = args.out_dir or f'work_dirs/experiment{"_quick" if args.quick else ""}'
    experiment = Experiment(osp.abspath(out_dir), profile, ROOT, jobs=args.jobs,
                            seeds=range(args.seeds), ablations=args.ablations)
    stages = experiment.stages()
    env = dict(experiment.env, OMP_NUM_THREADS=str(args.threads),
               MKL_NUM_THREADS=str(args.threads))
    pipeline = Pipeline(experiment.abspath(), stages, env=env, jobs=args.jobs, cwd=ROOT,
                        display=experiment.display)
    try:
        pipeline.forget(experiment.stage_names if args.force else args.redo)
    except KeyError as e:
        print(f'run_experiment.py: error: {e.args[0]}', file=sys.stderr)
        return 2
    expected, todo = experiment.expected_seconds(pipeline)
    what = ' with the ablations' if args.ablations else ''
    print(f'MaMMUT open-vocabulary experiment{what}, {profile} setting, {args.seeds} seed(s), '
          f'in {experiment.out} ({len(stages)} stages, {todo} to run, up to {args.jobs} at a '
          f'time, {args.threads} torch thread(s) each); expected: about {expected / 60:.0f} min '
          f'on a quiet machine with {args.jobs} cores', flush=True)
    start = time.perf_counter()
    try:
        pipeline.run()
    except StageFailed as e:
        print(f'\nrun_experiment.py: {e}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print('\nrun_experiment.py: interrupted; run the same command again to resume from the '
              'unfinished stages', file=sys.stderr)
        return 130
    minutes = (time.perf_counter() - start) / 60
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    cpu = sum(u.ru_utime + u.ru_stime for u in usage)
    print(f'\nexperiment finished in {minutes:.1f} min, {cpu / 60:.1f} CPU min (this invocation, '
          f'with the tools it ran); report: {experiment.path("report.md")}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
