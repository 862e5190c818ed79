"""Every workaround for an upstream defect, in one place. Each names the defect and the version.

:func:`apply` is idempotent and runs on ``import mammut_det``; ``tests/test_compat.py`` fails if a
workaround stops being needed or stops working.
"""
from __future__ import annotations

import copy
import importlib.util
import io
import os
import pickle
import sys
import types
import warnings

import numpy as np
import torch


def stub_mmaction_drn() -> None:
    """mmaction2 1.2.0's PyPI wheel lacks ``mmaction/models/localizers/drn/`` although
    ``mmaction/models/localizers/__init__.py`` imports ``DRN`` from it, so ``import
    mmaction.models`` fails with ``No module named 'mmaction.models.localizers.drn'``. A stand-in
    module with a placeholder ``DRN`` (never registered, never built) lets the rest import."""
    name = 'mmaction.models.localizers.drn'
    if name in sys.modules:
        return
    try:
        importlib.util.find_spec(name)
        return
    except ModuleNotFoundError:
        pass
    package = types.ModuleType(name)
    package.__path__ = []
    module = types.ModuleType(f'{name}.drn')

    class DRN:
        """Placeholder for the missing class: importable, never buildable."""

        def __init__(self, *args, **kwargs) -> None:
            raise ImportError('DRN is missing from the mmaction2 1.2.0 wheel')

    module.DRN = DRN
    package.drn = module
    sys.modules[name] = package
    sys.modules[module.__name__] = module


class _NumpyWithFloat(types.ModuleType):
    """numpy seen through a module that still has ``np.float`` (an alias of ``float``)."""

    float = float

    def __getattr__(self, name: str):
        return getattr(np, name)


def patch_lvis_numpy() -> None:
    """lvis 0.5.3's ``LVISEval.accumulate`` uses ``np.float``, removed in numpy 1.24, so LVIS
    evaluation fails with numpy 1.24+ and 2.x. Only ``lvis.eval``'s view of numpy gets the alias
    back, and only where numpy lacks it."""
    if hasattr(np, 'float'):
        return
    try:
        import lvis.eval as lvis_eval
    except ImportError:
        return
    if not isinstance(lvis_eval.np, _NumpyWithFloat):
        lvis_eval.np = _NumpyWithFloat('numpy')


def numpy_multiarray() -> types.ModuleType:
    """The module whose ``_reconstruct`` and ``scalar`` pickled numpy arrays and scalars name:
    ``numpy._core.multiarray`` on numpy 2, ``numpy.core.multiarray`` on numpy 1.x (whose
    ``numpy._core`` is an empty shim)."""
    core = getattr(np, '_core', None)
    multiarray = getattr(core, 'multiarray', None)
    if multiarray is None:
        multiarray = importlib.import_module('numpy.core.multiarray')
    return multiarray


def safe_load_is_default() -> bool:
    """Whether a plain ``torch.load(f)`` refuses arbitrary globals: torch >= 2.6 defaults to
    ``weights_only=True`` (also forced by ``TORCH_FORCE_WEIGHTS_ONLY_LOAD``); older torch
    unpickles anything. Probed with a one-object pickle, not read off the version."""
    buffer = io.BytesIO()
    torch.save({'probe': _Probe()}, buffer)
    buffer.seek(0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # torch 2.4/2.5 warn that the default will change
        try:
            torch.load(buffer)
        except pickle.UnpicklingError:
            return True
    return False


class _Probe:
    """An object only a full unpickler may build (see :func:`safe_load_is_default`)."""


def allow_mmengine_checkpoints() -> bool:
    """mmengine 0.10.7 saves ``message_hub`` with ``HistoryBuffer`` objects (whose statistics
    methods pickle as ``getattr(HistoryBuffer, 'min')``) and numpy arrays and scalars, which torch
    >= 2.6 refuses under its default ``torch.load(weights_only=True)`` (``Unsupported global:
    GLOBAL mmengine.logging.history_buffer.HistoryBuffer``). Allow-list exactly those globals;
    the safe loader stays on, and still refuses calls to anything else.

    Applied only where the safe loader is the default and ``torch.serialization.add_safe_globals``
    exists (torch >= 2.4); on older torch a plain ``torch.load`` reads these checkpoints as is.
    Returns whether the allow-list was installed."""
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None or not safe_load_is_default():
        return False
    from mmengine.logging.history_buffer import HistoryBuffer
    dtypes = [type(np.dtype(t)) for t in ('float64', 'float32', 'float16', 'int64', 'int32',
                                           'int16', 'int8', 'uint8', 'bool')]
    multiarray = numpy_multiarray()
    add_safe_globals([HistoryBuffer, getattr, np.ndarray, np.dtype, *dtypes,
                      multiarray._reconstruct, multiarray.scalar])
    return True


def init_cpu_distributed(launcher: str, backend: str = 'gloo') -> None:
    """mmengine 0.10.7's ``_init_dist_pytorch`` calls ``torch.cuda.set_device`` and so fails
    without a GPU. For ``--launcher pytorch`` on a CPU machine, initialise the process group
    ourselves (``Runner.setup_env`` then skips its own init). Pair it with
    :data:`CPU_DDP_WRAPPER`, since mmengine passes ``device_ids=[LOCAL_RANK]`` to DDP, which DDP
    rejects for CPU modules."""
    if launcher != 'pytorch' or torch.cuda.is_available():
        return
    import torch.distributed as dist
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, rank=int(os.environ['RANK']),
                                world_size=int(os.environ['WORLD_SIZE']))


def destroy_distributed() -> bool:
    """torch 2.13 with gloo: a process that exits without ``destroy_process_group()`` can abort
    at interpreter shutdown ("terminate called without an active exception", SIGABRT; seen here
    now and then at the end of 2-process CPU runs of ``tools/train.py``), because Gloo's worker
    threads still hold work whose tensors reference Python objects (pytorch/pytorch#190489; the
    atexit fix, #179291, was abandoned). MMEngine 0.10.7's Runner never destroys the group, so
    ``tools/train.py`` and ``tools/test.py`` call this after a run that succeeded (all ranks meet
    at a barrier first). Returns whether there was a group to destroy."""
    import torch.distributed as dist
    if not (dist.is_available() and dist.is_initialized()):
        return False
    dist.barrier()
    dist.destroy_process_group()
    return True


#: ``model_wrapper_cfg`` for DDP on CPU with mmengine 0.10.7 (see :func:`init_cpu_distributed`).
CPU_DDP_WRAPPER = dict(type='MMDistributedDataParallel', device_ids=None,
                       broadcast_buffers=False)


def quiet_deepspeed_cpu_detection() -> bool:
    """deepspeed 0.19.8, when it finds no GPU, prints ``Setting accelerator to CPU. If you have
    GPU or other accelerator, we were unable to detect it.`` on stdout as it is imported, and
    mmengine 0.10.7 imports it with ``mmengine.runner``: on a machine without a GPU the output of
    every tool starts with that line. Where torch sees no GPU and ``DS_ACCELERATOR`` is unset,
    name the accelerator it would pick, ``cpu``, before anything imports deepspeed. Returns
    whether it was set."""
    if 'DS_ACCELERATOR' in os.environ or torch.cuda.is_available():
        return False
    os.environ['DS_ACCELERATOR'] = 'cpu'
    return True


def cpu_fsdp_strategy(strategy: dict) -> dict:
    """An ``FSDPStrategy`` config that runs on a machine without a GPU (torch 2.13, gloo).

    - mmengine 0.10.7's ``FSDPStrategy._wrap_model`` passes ``device_id=int(LOCAL_RANK)`` to
      FSDP, which looks for that accelerator (``RuntimeError: Cannot access accelerator device
      when none is available``); with ``device_id=None`` FSDP 1 looks for one too (``FSDP needs a
      non-CPU accelerator device``). We pass ``device_id='cpu'`` (FSDP reads it with
      ``torch.device``).
    - torch 2.13's FSDP 1 full state dict with ``offload_to_cpu=True`` (what mmengine's
      ``state_dict_cfg='full'`` sets, and what a GPU run wants) crashes on CPU, where the
      parameters already are: rank 0 dies with SIGSEGV in ``_state_dict_utils`` (``use_orig_params
      =True``) or ``setStorage ... out of bounds`` (``False``). Offloading is switched off.

    Returns a new dict; ``strategy`` is not modified."""
    from torch.distributed.fsdp import FullOptimStateDictConfig, FullStateDictConfig
    out = copy.deepcopy(dict(strategy))
    wrapper = dict(out.get('model_wrapper') or dict(type='MMFullyShardedDataParallel'))
    wrapper['device_id'] = 'cpu'
    out['model_wrapper'] = wrapper
    cfg = out.get('state_dict_cfg', 'local')
    if cfg == 'full':
        cfg = dict(state_dict_type='FULL_STATE_DICT',
                   state_dict_config=dict(type='FullStateDictConfig', rank0_only=True),
                   optim_state_dict_config=dict(type='FullOptimStateDictConfig',
                                                rank0_only=True))
    if isinstance(cfg, dict):
        cfg = dict(cfg)
        for key in ('state_dict_config', 'optim_state_dict_config'):
            sub = cfg.get(key)
            if isinstance(sub, dict):
                cfg[key] = {**sub, 'offload_to_cpu': False}
            elif isinstance(sub, (FullStateDictConfig, FullOptimStateDictConfig)):
                cfg[key] = copy.copy(sub)
                cfg[key].offload_to_cpu = False
    out['state_dict_cfg'] = cfg
    return out


def patch_fsdp_load_optim_state_dict() -> bool:
    """mmengine 0.10.7's ``FSDPStrategy.load_optim_state_dict`` calls
    ``FSDP.optim_state_dict_to_load(state_dict, model, optim)``, the argument order of torch <
    2.1; torch >= 2.1 takes ``(model, optim, optim_state_dict)``, so resuming an FSDP run fails
    with ``TypeError: unhashable type: 'dict'``. Call it with the order the installed torch
    declares. Returns whether the patch was installed (not where torch has the old order)."""
    import inspect

    from mmengine._strategy import FSDPStrategy
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
    first = next(iter(inspect.signature(FSDP.optim_state_dict_to_load).parameters))
    if first != 'model':
        return False
    if getattr(FSDPStrategy.load_optim_state_dict, '_mammut_det_patched', False):
        return True

    def load_optim_state_dict(self, state_dict: dict) -> None:
        optimizer = self.optim_wrapper.optimizer
        self.optim_wrapper.load_state_dict(
            FSDP.optim_state_dict_to_load(self.model, optimizer, state_dict))

    load_optim_state_dict._mammut_det_patched = True
    FSDPStrategy.load_optim_state_dict = load_optim_state_dict
    return True


def scalar_parameters_as_1d(module: torch.nn.Module) -> list[str]:
    """Sharding engines that cannot take 0-dim parameters, which MaMMUT's learned temperature
    ``logit_scale`` is (open_clip's layout), as are the detector's and the video head's:

    - torch 2.13's FSDP 1: ``ValueError: FSDP doesn't support scalar parameters. Change
      logit_scale to a 1D tensor with numel equal to 1.``
    - deepspeed 0.19.8: ``DeepSpeedEngine._broadcast_model`` views each parameter as bytes,
      ``RuntimeError: self.dim() cannot be 0 to view Float as Byte``.

    Each 0-dim parameter of ``module`` becomes a 1-element 1-D parameter (the forward passes
    broadcast it alike), and state-dict hooks on its owner give it out, and take it in, as
    0-dim, so checkpoints keep their keys and shapes. Returns the names changed."""
    changed = []
    for owner_name, owner in module.named_modules():
        scalars = [n for n, p in owner.named_parameters(recurse=False) if p.dim() == 0]
        for name in scalars:
            old = getattr(owner, name)
            setattr(owner, name, torch.nn.Parameter(old.detach().reshape(1),
                                                    requires_grad=old.requires_grad))
            changed.append(f'{owner_name}.{name}' if owner_name else name)
        if scalars:
            give, take = _scalar_state_dict_hooks(scalars)
            owner.register_state_dict_post_hook(give)
            owner.register_load_state_dict_pre_hook(take)
    return changed


def _scalar_state_dict_hooks(names: list[str]) -> tuple:
    """State-dict hooks of :func:`scalar_parameters_as_1d`: ``names`` out as 0-dim, in as [1]."""

    def give(module, state_dict, prefix, local_metadata) -> None:
        for name in names:
            value = state_dict.get(prefix + name)
            if isinstance(value, torch.Tensor) and value.numel() == 1:
                state_dict[prefix + name] = value.reshape(())

    def take(module, state_dict, prefix, *args) -> None:
        for name in names:
            value = state_dict.get(prefix + name)
            if isinstance(value, torch.Tensor) and value.dim() == 0:
                state_dict[prefix + name] = value.reshape(1)

    return give, take


def patch_scalar_parameters() -> None:
    """Apply :func:`scalar_parameters_as_1d` to the model that mmengine 0.10.7's
    ``FSDPStrategy`` or ``DeepSpeedStrategy`` builds, before its optimizer is built and FSDP or
    DeepSpeed wraps it."""
    from mmengine._strategy import DeepSpeedStrategy, FSDPStrategy
    for strategy in (FSDPStrategy, DeepSpeedStrategy):
        build = strategy.build_model
        if getattr(build, '_mammut_det_patched', False):
            continue

        def build_model(self, model, build=build):
            model = build(self, model)
            scalar_parameters_as_1d(model)
            return model

        build_model._mammut_det_patched = True
        strategy.build_model = build_model


def patch_fsdp_clip_grad() -> None:
    """mmengine 0.10.7's ``OptimWrapper`` clips with ``torch.nn.utils.clip_grad_norm_`` over the
    parameters its optimizer holds. Under ``FSDPStrategy`` those are this rank's shards, so each
    rank measures the norm of its own shard and scales by its own factor: the logged
    ``grad_norm`` is not the model's, and the update differs from DDP's on the same data (and is
    scaled differently on each rank). After ``FSDPStrategy`` builds the wrapper, norm clipping
    goes through the root FSDP module's ``clip_grad_norm_``, which reduces the norm over all
    ranks."""
    from mmengine._strategy import FSDPStrategy
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
    build = FSDPStrategy.build_optim_wrapper
    if getattr(build, '_mammut_det_patched', False):
        return

    def build_optim_wrapper(self, optim_wrapper, model=None):
        wrapper = build(self, optim_wrapper, model)
        root = model if model is not None else getattr(self, 'model', None)
        if (isinstance(root, FSDP)
                and getattr(wrapper, 'clip_func', None) is torch.nn.utils.clip_grad_norm_):
            def clip_func(params, max_norm: float, norm_type: float = 2.0, **kwargs):
                return root.clip_grad_norm_(max_norm, norm_type)
            wrapper.clip_func = clip_func
        return wrapper

    build_optim_wrapper._mammut_det_patched = True
    FSDPStrategy.build_optim_wrapper = build_optim_wrapper


def stub_deepspeed_onebit() -> bool:
    """mmengine 0.10.7's ``DeepSpeedStrategy`` imports ``OnebitAdam``, ``OnebitLamb`` and
    ``ZeroOneAdam`` from ``deepspeed.runtime.fp16.onebit`` to register them, a module deepspeed
    0.19.7 removed: building the strategy fails with ``No module named
    'deepspeed.runtime.fp16.onebit'``. Where deepspeed is installed and lacks it, a stand-in
    module gives those names as optimizers that cannot be built. Returns whether it was stubbed."""
    name = 'deepspeed.runtime.fp16.onebit'
    if name in sys.modules:
        return getattr(sys.modules[name], '_mammut_det_stub', False)
    if importlib.util.find_spec('deepspeed') is None:
        return False
    try:
        importlib.import_module(name)
        return False
    except ModuleNotFoundError:
        pass
    module = types.ModuleType(name)
    module._mammut_det_stub = True

    def unavailable(self, *args, **kwargs) -> None:
        raise ImportError(f'{type(self).__name__} was removed from deepspeed 0.19.7 '
                          f'({name} is gone)')

    for cls in ('OnebitAdam', 'OnebitLamb', 'ZeroOneAdam'):
        setattr(module, cls, type(cls, (torch.optim.Optimizer,), {'__init__': unavailable}))
    sys.modules[name] = module
    return True


def quiet_endless_stream_length_warning() -> None:
    """mmengine 0.10.7's ``Runner._build_param_scheduler`` calls ``len(train_dataloader)`` for
    every scheduler (even ``by_epoch=False`` ones), so a streaming dataset must have a length:
    :class:`~mammut_det.datasets.WebCaptionDataset` reports its per-rank epoch. torch 2.13's
    DataLoader then warns on every batch once one iterator has yielded more batches than that
    length (``Length of IterableDataset ... was reported to be ...``), assuming a finite
    iterable; our stream is endless by design. Silence that warning for this dataset only."""
    warnings.filterwarnings('ignore', category=UserWarning,
                            message=r'Length of IterableDataset <mammut_det\.datasets\.shards\.')


def apply() -> None:
    """Apply every import-time workaround (idempotent)."""
    quiet_deepspeed_cpu_detection()
    stub_mmaction_drn()
    patch_lvis_numpy()
    allow_mmengine_checkpoints()
    quiet_endless_stream_length_warning()
    patch_fsdp_load_optim_state_dict()
    patch_scalar_parameters()
    patch_fsdp_clip_grad()
