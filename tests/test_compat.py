"""Each upstream workaround in mammut_det.compat: the defect is still there, the fix works."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from mammut_det import compat


def run_py(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          timeout=300)


def test_mmaction_drn_is_missing_upstream_and_stubbed_by_us():
    bare = run_py('import mmaction.models')
    assert bare.returncode != 0 and 'mmaction.models.localizers.drn' in bare.stderr, (
        'mmaction2 imports without the drn stand-in now: drop stub_mmaction_drn')
    fixed = run_py('import mammut_det, mmaction.models; '
                   'from mmaction.registry import MODELS; '
                   'print(MODELS.get("Recognizer3D").__name__)')
    assert fixed.returncode == 0, fixed.stderr
    assert 'Recognizer3D' in fixed.stdout


def test_lvis_needs_np_float_and_gets_it_locally():
    assert not hasattr(np, 'float'), 'numpy has np.float again: drop patch_lvis_numpy'
    import lvis.eval
    compat.patch_lvis_numpy()
    assert lvis.eval.np.float is float
    assert lvis.eval.np.zeros is np.zeros
    assert not hasattr(np, 'float'), 'the patch must not leak into numpy itself'


def test_lvis_evaluation_runs_with_installed_numpy(tmp_path):
    import json

    from lvis import LVIS, LVISEval, LVISResults
    cats = [dict(id=1, name='a', frequency='f', synset='a.n.01', image_count=1,
                 instance_count=1)]
    gt = dict(images=[dict(id=1, width=64, height=64, neg_category_ids=[],
                           not_exhaustive_category_ids=[])],
              annotations=[dict(id=1, image_id=1, category_id=1, bbox=[10, 10, 20, 20],
                                area=400, segmentation=[[10, 10, 30, 10, 30, 30, 10, 30]])],
              categories=cats)
    path = tmp_path / 'gt.json'
    path.write_text(json.dumps(gt))
    lvis_gt = LVIS(str(path))
    dets = LVISResults(lvis_gt, [dict(image_id=1, category_id=1, bbox=[10, 10, 20, 20],
                                      score=0.9)])
    ev = LVISEval(lvis_gt, dets, 'bbox')
    ev.run()
    assert ev.results['AP'] == pytest.approx(1.0)


def test_mmengine_checkpoint_loads_under_safe_torch_load(tmp_path):
    from mmengine.logging import MessageHub
    hub = MessageHub.get_instance('compat-test')
    hub.update_scalar('train/loss', np.float64(1.5))
    hub.update_info('iter', 3)
    ckpt = dict(state_dict={'w': torch.ones(2)}, message_hub=hub.state_dict(),
                meta=dict(seed=np.int64(3), epoch=0))
    path = tmp_path / 'ckpt.pth'
    torch.save(ckpt, path)
    code = (f'import torch\ntry:\n torch.load({str(path)!r})\nexcept Exception as e:\n'
            f' print(type(e).__name__, e)\n raise SystemExit(1)')
    bare = run_py(code)
    assert bare.returncode != 0 and 'HistoryBuffer' in bare.stdout, (
        'torch loads mmengine checkpoints safely without help now: drop '
        'allow_mmengine_checkpoints')
    assert compat.allow_mmengine_checkpoints()
    loaded = torch.load(path)  # weights_only=True is torch's default
    assert loaded['message_hub']['log_scalars']['train/loss'].current() == 1.5
    assert loaded['meta']['seed'] == 3


def test_numpy_multiarray_is_what_numpy_pickles_name():
    # pickle records the reducer functions of arrays and scalars; numpy 1.x spells their module
    # numpy.core.multiarray, numpy 2 numpy._core.multiarray
    multiarray = compat.numpy_multiarray()
    assert np.zeros(2).__reduce__()[0] is multiarray._reconstruct
    assert np.float64(1.5).__reduce__()[0] is multiarray.scalar
    major = int(np.__version__.split('.')[0])
    expected = 'numpy._core.multiarray' if major >= 2 else 'numpy.core.multiarray'
    assert multiarray.__name__ == expected


def test_safe_load_probe_matches_torch(tmp_path):
    path = tmp_path / 'obj.pth'
    torch.save({'obj': argparse.Namespace(a=1)}, path)
    try:
        torch.load(path)
        refused = False
    except Exception:
        refused = True
    assert compat.safe_load_is_default() is refused


def test_no_allow_list_where_torch_loads_everything(tmp_path):
    # torch < 2.6 (here: forced with torch's own switch) unpickles any global: nothing to allow.
    # compat.py is loaded by path, without the rest of mammut_det, to keep the subprocess quick.
    path = tmp_path / 'obj.pth'
    torch.save({'obj': argparse.Namespace(a=1)}, path)
    code = ('import importlib.util, sys, torch\n'
            f'spec = importlib.util.spec_from_file_location("compat", {compat.__file__!r})\n'
            'compat = sys.modules["compat"] = importlib.util.module_from_spec(spec)\n'
            'spec.loader.exec_module(compat)\n'
            'print(compat.safe_load_is_default(), compat.allow_mmengine_checkpoints(), '
            f'torch.load({str(path)!r})["obj"].a)')
    res = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         timeout=300, env={**os.environ, 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD': '1'})
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ['False', 'False', '1']


def test_no_allow_list_without_add_safe_globals(monkeypatch):
    # torch < 2.4 has no torch.serialization.add_safe_globals
    monkeypatch.delattr(torch.serialization, 'add_safe_globals')
    assert compat.allow_mmengine_checkpoints() is False


def test_lvis_left_alone_where_numpy_has_np_float(monkeypatch):
    import lvis.eval
    monkeypatch.setattr(lvis.eval, 'np', np)
    monkeypatch.setattr(np, 'float', float, raising=False)
    compat.patch_lvis_numpy()
    assert lvis.eval.np is np


def test_safe_load_still_refuses_arbitrary_objects(tmp_path):
    compat.allow_mmengine_checkpoints()

    path = tmp_path / 'evil.pth'
    torch.save({'obj': argparse.Namespace(a=1)}, path)
    with pytest.raises(Exception, match='Unsupported global|Weights only load failed'):
        torch.load(path)


def test_pkg_resources_is_there_for_mmengine_base_configs(tmp_path):
    # mmengine 0.10.7 imports pkg_resources for `mmdet::` base configs; setuptools < 81 has it
    cfg_file = tmp_path / 'cfg.py'
    cfg_file.write_text("_base_ = 'mmdet::_base_/default_runtime.py'\n")
    res = run_py('import mammut_det\nfrom mmengine.config import Config\n'
                 f'cfg = Config.fromfile({str(cfg_file)!r})\n'
                 'print(cfg.default_scope)')
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == 'mmdet'
