"""The command-line arguments tools/train.py and tools/test.py share with MMDetection's."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mammut_det.engine.cli import ToolArgumentParser


def make_parser() -> ToolArgumentParser:
    parser = ToolArgumentParser('t', 'config', 'work dir')
    parser.add_argument('checkpoint')
    return parser


def test_common_arguments_parse_as_mmdetection_spells_them(monkeypatch):
    monkeypatch.delenv('LOCAL_RANK', raising=False)
    args = make_parser().parse_args(
        ['a.py', 'b.pth', '--work-dir', 'w', '--cfg-options', 'x=1', 'y.z=[1,2]', 'n=abc',
         '--launcher', 'pytorch', '--local-rank', '3'])
    assert (args.config, args.checkpoint, args.work_dir) == ('a.py', 'b.pth', 'w')
    assert args.cfg_options == {'x': 1, 'y.z': [1, 2], 'n': 'abc'}
    assert args.launcher == 'pytorch' and args.local_rank == 3
    assert os.environ['LOCAL_RANK'] == '3'


def test_launcher_local_rank_wins_and_old_spelling_works(monkeypatch):
    monkeypatch.setenv('LOCAL_RANK', '1')
    args = make_parser().parse_args(['a.py', 'b.pth', '--local_rank', '5'])
    assert args.local_rank == 5 and args.launcher == 'none'
    assert os.environ['LOCAL_RANK'] == '1'
    with pytest.raises(SystemExit):
        make_parser().parse_args(['a.py', 'b.pth', '--launcher', 'nope'])


@pytest.mark.slow
@pytest.mark.parametrize('tool,usage', [
    ('tools/train.py', ['--work-dir', '--amp', '--auto-scale-lr', '--resume', '--cfg-options',
                        '--launcher', '--local_rank']),
    ('tools/test.py', ['checkpoint', '--work-dir', '--out', '--show', '--show-dir',
                       '--wait-time', '--cfg-options', '--launcher', '--local_rank']),
])
def test_tools_offer_mmdetection_arguments(tool, usage):
    out = subprocess.run([sys.executable, tool, '--help'], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    for arg in usage:
        assert arg in out.stdout, arg


def test_slurm_train_starts_one_task_per_gpu_through_srun(tmp_path):
    # a stand-in srun that records its command line
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    (bin_dir / 'srun').write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$SRUN_LOG"\n')
    (bin_dir / 'srun').chmod(0o755)
    log = tmp_path / 'srun.log'
    env = dict(os.environ, PATH=f'{bin_dir}:{os.environ["PATH"]}', SRUN_LOG=str(log),
               GPUS='16', SRUN_ARGS='--quotatype=auto --exclusive')
    res = subprocess.run(['bash', 'tools/slurm_train.sh', 'gpu', 'mammut', 'cfg.py', 'work',
                          '--amp', '--cfg-options', 'a=1'], capture_output=True, text=True,
                         env=env, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert res.returncode == 0, res.stderr
    args = log.read_text().split('\n')[:-1]
    assert args[:9] == ['-p', 'gpu', '--job-name=mammut', '--gres=gpu:8', '--ntasks=16',
                        '--ntasks-per-node=8', '--cpus-per-task=8', '--kill-on-bad-exit=1',
                        '--quotatype=auto']
    assert args[9] == '--exclusive'
    assert args[11:] == ['-u', os.path.join('tools', 'train.py'), 'cfg.py', '--work-dir=work',
                         '--launcher', 'slurm', '--amp', '--cfg-options', 'a=1']
    usage = subprocess.run(['bash', 'tools/slurm_train.sh', 'gpu'], capture_output=True,
                           text=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert usage.returncode == 2 and 'PARTITION JOB_NAME CONFIG WORK_DIR' in usage.stderr
