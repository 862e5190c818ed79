"""Each upstream workaround in mammut_det.compat: the defect is still there, the fix works."""
from __future__ import annotations

import argparse
import importlib.util
import math
import os
import subprocess
import sys
import tempfile
import time

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


# -- FSDP and DeepSpeed through mmengine 0.10.7 on torch 2.13 -------------------------------------
# Each snippet runs in a fresh interpreter inside a gloo process group of its own (FSDP, DeepSpeed
# and mmengine's patches are process-wide); PREAMBLE starts it, `world` processes of it.

PREAMBLE = '''
import os, sys, torch, torch.distributed as dist
from torch import nn
from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
rank, world = int(sys.argv[1]), int(sys.argv[2])
os.environ['LOCAL_RANK'] = str(rank)
dist.init_process_group('gloo', init_method='file://' + sys.argv[3], rank=rank, world_size=world)
torch.manual_seed(0)
'''


def run_dist(tmp_path, code: str, world: int = 1, timeout: int = 300) -> list:
    """Runs ``PREAMBLE + code`` in ``world`` processes; returns their CompletedProcess. When one
    dies, the others (left waiting in a collective) are stopped."""
    run = tempfile.mkdtemp(dir=tmp_path)
    script = os.path.join(run, 'snippet.py')
    with open(script, 'w') as f:
        f.write(PREAMBLE + code + '\ndist.barrier()\ndist.destroy_process_group()\n')
    env = dict(os.environ, OMP_NUM_THREADS='1')
    logs = [(open(os.path.join(run, f'out{r}'), 'w+'), open(os.path.join(run, f'err{r}'), 'w+'))
            for r in range(world)]
    procs = [subprocess.Popen([sys.executable, script, str(r), str(world),
                               os.path.join(run, 'store')], stdout=out, stderr=err, text=True,
                              env=env) for r, (out, err) in enumerate(logs)]
    deadline = time.monotonic() + timeout
    while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
        if any(p.poll() not in (None, 0) for p in procs):
            time.sleep(2)
            break
        time.sleep(0.2)
    results = []
    for p, (out, err) in zip(procs, logs):
        if p.poll() is None:
            p.kill()
            p.wait()
        out.seek(0)
        err.seek(0)
        results.append(subprocess.CompletedProcess(p.args, p.returncode, out.read(), err.read()))
        out.close()
        err.close()
    return results


@pytest.mark.slow
def test_fsdp_needs_a_cpu_device_id_and_no_offload_without_a_gpu(tmp_path):
    strategy = compat.cpu_fsdp_strategy(dict(type='FSDPStrategy', state_dict_cfg='full'))
    assert strategy['model_wrapper']['device_id'] == 'cpu'
    cfg = strategy['state_dict_cfg']
    assert cfg['state_dict_type'] == 'FULL_STATE_DICT'
    for key in ('state_dict_config', 'optim_state_dict_config'):
        assert cfg[key]['offload_to_cpu'] is False and cfg[key]['rank0_only'] is True
    run = run_dist(tmp_path, f'''
for device_id in (int(os.environ['LOCAL_RANK']), None):  # mmengine's, and none
    try:
        FSDP(nn.Linear(4, 4), device_id=device_id)
    except RuntimeError as e:
        print('refused:', e)
from mmengine._strategy import FSDPStrategy
import mammut_det
s = FSDPStrategy(**{{k: v for k, v in {strategy!r}.items() if k != 'type'}})
m = s._wrap_model(nn.Sequential(nn.Linear(64, 64), nn.Linear(64, 8)))
sd = m.state_dict()
print('saved', sorted(sd) if rank == 0 else len(sd))
''', world=2)
    assert all(p.returncode == 0 for p in run), run[0].stderr[-3000:]
    assert run[0].stdout.count('refused:') == 2, (
        'FSDP wraps CPU modules without a device now: drop the device_id of cpu_fsdp_strategy')
    assert "saved ['0.bias', '0.weight', '1.bias', '1.weight']" in run[0].stdout
    assert 'saved 0' in run[1].stdout
    offload = run_dist(tmp_path, '''
from torch.distributed.fsdp import FullStateDictConfig, StateDictType
m = FSDP(nn.Sequential(nn.Linear(64, 64), nn.Linear(64, 8)), device_id='cpu', use_orig_params=True)
with FSDP.state_dict_type(m, StateDictType.FULL_STATE_DICT,
                          FullStateDictConfig(offload_to_cpu=True, rank0_only=True)):
    m.state_dict()
''', world=2)
    assert any(p.returncode != 0 for p in offload), (
        'FSDP full state dicts offload to the CPU on the CPU now: keep offload_to_cpu')


SCALAR_MODULE = '''
class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(2.5))
        self.lin = nn.Linear(3, 3)
    def forward(self, x):
        return self.scale * self.lin(x)
'''


def test_fsdp_refuses_scalar_parameters_and_they_train_as_1d(tmp_path):
    run = run_dist(tmp_path, SCALAR_MODULE + '''
try:
    FSDP(M(), device_id='cpu')
except ValueError as e:
    print('refused:', e)
from mammut_det import compat
from torch.distributed.fsdp import FullStateDictConfig, StateDictType
m = M()
x = torch.randn(2, 3)
want = m(x)
assert compat.scalar_parameters_as_1d(m) == ['scale']
f = FSDP(m, device_id='cpu', use_orig_params=True)
torch.testing.assert_close(f(x), want)
with FSDP.state_dict_type(f, StateDictType.FULL_STATE_DICT,
                          FullStateDictConfig(offload_to_cpu=False, rank0_only=False)):
    sd = f.state_dict()
    print('saved', tuple(sd['scale'].shape), float(sd['scale']))
    f.load_state_dict({**sd, 'scale': torch.tensor(4.0)})
print('loaded', m.scale.tolist())
''')[0]
    assert run.returncode == 0, run.stderr[-3000:]
    assert 'refused: FSDP doesn\'t support scalar parameters' in run.stdout, (
        'FSDP takes 0-dim parameters now: drop scalar_parameters_as_1d for FSDP')
    assert 'saved () 2.5' in run.stdout and 'loaded [4.0]' in run.stdout


# slow: deepspeed.initialize on the CPU JIT-compiles its shared-memory comm op (30-60 s, once per
# environment: the build flags name the venv's include paths)
@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec('deepspeed') is None,
                    reason='deepspeed is not installed')
def test_deepspeed_refuses_scalar_parameters(tmp_path):
    bare = run_dist(tmp_path, SCALAR_MODULE + '''
import deepspeed
m = M()
try:
    deepspeed.initialize(model=m, optimizer=torch.optim.SGD(m.parameters(), lr=0.1),
                         config=dict(train_micro_batch_size_per_gpu=1))
except RuntimeError as e:
    print('refused:', e)
''')[0]
    assert 'refused: self.dim() cannot be 0' in bare.stdout, (
        bare.stderr[-2000:] + '\nDeepSpeed takes 0-dim parameters now: drop '
        'scalar_parameters_as_1d for DeepSpeedStrategy')


def test_fsdp_strategy_loads_optimizer_states_in_the_order_torch_takes(tmp_path):
    run = run_dist(tmp_path, '''
from mmengine._strategy import FSDPStrategy
from mmengine.optim import OptimWrapper
from torch.distributed.fsdp import FullOptimStateDictConfig, FullStateDictConfig, StateDictType
m = FSDP(nn.Linear(4, 4), device_id='cpu', use_orig_params=True)
opt = torch.optim.AdamW(m.parameters(), lr=0.1)
m(torch.randn(2, 4)).sum().backward()
opt.step()
FSDP.set_state_dict_type(m, StateDictType.FULL_STATE_DICT, FullStateDictConfig(rank0_only=False),
                         FullOptimStateDictConfig(rank0_only=False))
saved = FSDP.optim_state_dict(m, opt)
s = FSDPStrategy.__new__(FSDPStrategy)
s.model = m
for patched in (False, True):
    if patched:
        import mammut_det
    s.optim_wrapper = OptimWrapper(torch.optim.AdamW(m.parameters(), lr=0.1))
    try:
        FSDPStrategy.load_optim_state_dict(s, saved)
        print('loaded', s.optim_wrapper.optimizer.state_dict()['state'][0]['step'].item())
    except TypeError as e:
        print('refused:', e)
''')[0]
    assert run.returncode == 0, run.stderr[-3000:]
    assert "refused: unhashable type: 'dict'" in run.stdout, (
        'mmengine passes the arguments in torch\'s order now: drop '
        'patch_fsdp_load_optim_state_dict')
    assert 'loaded 1.0' in run.stdout


@pytest.mark.slow
def test_fsdp_strategy_clips_by_the_norm_of_the_whole_model(tmp_path):
    # 2 processes, each its own shard; mmengine's OptimWrapper clips with clip_grad_norm_ over
    # the parameters it holds, which under FSDP are this rank's shard
    run = run_dist(tmp_path, '''
from mmengine.optim import OptimWrapper
assert OptimWrapper(torch.optim.SGD([nn.Parameter(torch.ones(1))], lr=0.1),
                    clip_grad=dict(max_norm=1.0)).clip_func is torch.nn.utils.clip_grad_norm_
import mammut_det
from mmengine._strategy import FSDPStrategy
model = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 8))
x = torch.randn(4, 8, generator=torch.Generator().manual_seed(rank))
s = FSDPStrategy(model_wrapper=dict(device_id='cpu'))
m = s._wrap_model(model)
wrapper = s.build_optim_wrapper(dict(optimizer=dict(type='SGD', lr=0.1),
                                     clip_grad=dict(max_norm=1e-3)), m)
m(x).pow(2).sum().backward()
local = torch.nn.utils.clip_grad_norm_(m.parameters(), float('inf'))
wrapper._clip_grad()
print('norms', float(local), wrapper.message_hub.get_scalar('train/grad_norm').current())
''', world=2)
    for p in run:
        assert p.returncode == 0, p.stderr[-3000:]
    local, clipped = zip(*[[float(v) for v in p.stdout.split()[-2:]] for p in run])
    assert local[0] != pytest.approx(local[1], rel=1e-3), 'the shards have norms of their own'
    assert clipped[0] == clipped[1], 'both ranks clip by the same, whole-model norm'
    # the whole model's norm is the root of the summed squares of the shards' norms
    assert clipped[0] == pytest.approx(math.hypot(*local), rel=1e-5)


@pytest.mark.skipif(importlib.util.find_spec('deepspeed') is None,
                    reason='deepspeed is not installed')
def test_deepspeed_lost_the_onebit_optimizers_that_mmengine_registers():
    run = run_py('''
try:
    import deepspeed.runtime.fp16.onebit
except ModuleNotFoundError as e:
    print('missing:', e)
from mammut_det import compat
assert compat.stub_deepspeed_onebit()
from mmengine._strategy.deepspeed import register_deepspeed_optimizers
print(sorted(register_deepspeed_optimizers()))
''')
    assert run.returncode == 0, run.stderr[-3000:]
    assert 'missing:' in run.stdout, (
        'deepspeed ships runtime.fp16.onebit again: drop stub_deepspeed_onebit')
    assert "'OnebitAdam'" in run.stdout and "'FusedAdam'" in run.stdout


@pytest.mark.skipif(importlib.util.find_spec('deepspeed') is None or torch.cuda.is_available(),
                    reason='deepspeed is not installed, or there is a GPU')
def test_deepspeed_announces_the_cpu_on_stdout_unless_told():
    env = {k: v for k, v in os.environ.items() if k != 'DS_ACCELERATOR'}
    bare = subprocess.run([sys.executable, '-c', 'import mmengine.runner'], capture_output=True,
                          text=True, timeout=300, env=env)
    assert 'Setting accelerator to CPU' in bare.stdout, (
        'deepspeed no longer prints its accelerator on stdout: drop '
        'quiet_deepspeed_cpu_detection')
    fixed = subprocess.run([sys.executable, '-c', 'import mammut_det, os, mmengine.runner; '
                            'print(os.environ["DS_ACCELERATOR"])'],
                           capture_output=True, text=True, timeout=300, env=env)
    assert fixed.returncode == 0, fixed.stderr[-2000:]
    assert fixed.stdout == 'cpu\n'


def test_tools_destroy_the_process_group_after_a_run(tmp_path):
    """Without destroy_process_group a gloo process can abort at interpreter shutdown
    (pytorch#190489); the tools call compat.destroy_distributed after a successful run."""
    script = f'''
import torch, torch.distributed as dist
from mammut_det import compat
assert compat.destroy_distributed() is False  # no group: nothing to do
dist.init_process_group('gloo', init_method='file://{tmp_path}/store', rank=0, world_size=1)
out = [torch.zeros(1)]
dist.all_gather(out, torch.ones(1))
assert compat.destroy_distributed() is True and not dist.is_initialized()
print('ok')
'''
    res = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0 and res.stdout.strip().endswith('ok'), res.stderr[-2000:]
