"""tools/check_gpu.sh: a clear refusal without a GPU; its checks run (CPU against CPU here)."""
from __future__ import annotations

import importlib.util
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def load_check_gpu():
    spec = importlib.util.spec_from_file_location('check_gpu', osp.join(ROOT, 'tools',
                                                                       'check_gpu.py'))
    module = importlib.util.module_from_spec(spec)
    sys.modules['check_gpu'] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(torch.cuda.is_available(), reason='a GPU is here: check_gpu.sh checks it')
def test_says_no_gpu_was_found():
    res = subprocess.run(['bash', 'tools/check_gpu.sh'], cwd=ROOT, capture_output=True,
                         text=True, timeout=300, env={**os.environ, 'VENV': sys.prefix})
    assert res.returncode == 2, res.stderr
    assert 'check_gpu: no GPU found' in res.stderr and 'nothing was checked' in res.stderr
    assert res.stdout == ''


@pytest.mark.slow
def test_checks_run_and_compare_cpu_with_cpu(capsys):
    check_gpu = load_check_gpu()
    assert check_gpu.run_checks(torch.device('cpu'), 'tiny', 1) == []
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(':')[0].split(' (')[0] for line in lines] == [
        'two-pass step', 'detector forward', 'decord decoding']
    assert all('speed-up' in line for line in lines)


def test_mmcv_op_check_catches_a_wrong_result(monkeypatch):
    import mmcv.ops
    check_gpu = load_check_gpu()
    check_gpu.check_mmcv_ops(torch.device('cpu'))  # the same op on both sides: passes
    roi_align, calls = mmcv.ops.roi_align, []

    def off_on_the_device_side(*args, **kwargs):  # the check calls the device side first
        calls.append(1)
        return roi_align(*args, **kwargs) + (1e-3 if len(calls) == 1 else 0.0)

    monkeypatch.setattr(mmcv.ops, 'roi_align', off_on_the_device_side)
    with pytest.raises(check_gpu.CheckFailed, match='RoIAlign differs .* by 1.00e-03'):
        check_gpu.check_mmcv_ops(torch.device('cpu'))


@pytest.mark.gpu
def test_mmcv_cuda_ops_match_the_cpu():
    load_check_gpu().check_mmcv_ops(torch.device('cuda'))
