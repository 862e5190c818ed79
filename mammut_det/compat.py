"""Every workaround for an upstream defect, in one place. Each names the defect and the version.

:func:`apply` is idempotent and runs on ``import mammut_det``; ``tests/test_compat.py`` fails if a
workaround stops being needed or stops working.
"""
from __future__ import annotations

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


#: ``model_wrapper_cfg`` for DDP on CPU with mmengine 0.10.7 (see :func:`init_cpu_distributed`).
CPU_DDP_WRAPPER = dict(type='MMDistributedDataParallel', device_ids=None,
                       broadcast_buffers=False)


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
    stub_mmaction_drn()
    patch_lvis_numpy()
    allow_mmengine_checkpoints()
    quiet_endless_stream_length_warning()
