"""Mixed-precision training (``tools/train.py --amp``) for each training strategy."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from mmengine.config import Config, ConfigDict
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS
from mmengine.runner.amp import autocast
from torch import nn

from .strategies import strategy_type

#: ``--amp-dtype`` choices and the torch dtype each names.
AMP_DTYPES = {'bf16': 'bfloat16', 'fp16': 'float16'}


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """An ``OptimWrapper`` whose forward passes run under ``torch.autocast`` in ``dtype``, with
    no loss scaling.

    For bfloat16, which keeps float32's exponent range, so small gradients do not underflow and
    no loss scale is needed (float16 needs one: MMEngine's ``AmpOptimWrapper``). Parameters,
    gradients and optimizer states stay float32. Runs on the CPU (``torch.autocast('cpu')``,
    bfloat16 only), where MMEngine 0.10.7's ``AmpOptimWrapper`` refuses to be built, and on GPUs.
    """

    def __init__(self, dtype: str | torch.dtype = 'bfloat16', **kwargs) -> None:
        super().__init__(**kwargs)
        self.cast_dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype

    @contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        with super().optim_context(model), autocast(dtype=self.cast_dtype):
            yield


def apply_amp(cfg: Config, amp_dtype: str) -> str:
    """Switch ``cfg`` to mixed precision in ``amp_dtype`` (``'bf16'`` or ``'fp16'``) the way
    its strategy does it, and say how:

    - normal Runner / ``DDPStrategy``: bf16 with :class:`AutocastOptimWrapper` (no loss
      scaling), fp16 with ``AmpOptimWrapper`` (dynamic loss scaling);
    - ``FSDPStrategy``: FSDP's ``MixedPrecision`` (parameters gathered and computed in
      ``amp_dtype``, gradients reduced in float32, sharded float32 master weights); fp16 adds
      ``AmpOptimWrapper``'s dynamic loss scaling (a ``ShardedGradScaler``);
    - ``DeepSpeedStrategy``: DeepSpeed's ``bf16`` or ``fp16`` section (fp16: dynamic loss
      scale), images cast to the parameters' dtype.

    fp16 needs a GPU (float16 autocast and loss scaling are CUDA features here): without one
    this exits with a message; bf16 runs on the CPU too."""
    if amp_dtype not in AMP_DTYPES:
        raise ValueError(f'amp dtype must be one of {sorted(AMP_DTYPES)}, got {amp_dtype!r}')
    dtype = AMP_DTYPES[amp_dtype]
    if amp_dtype == 'fp16' and not torch.cuda.is_available():
        raise SystemExit('--amp-dtype fp16 needs a GPU (float16 autocast and its loss scaling '
                         'are CUDA features); on the CPU use --amp-dtype bf16')
    kind = strategy_type(cfg)
    if kind == 'DeepSpeedStrategy':
        section = (dict(enabled=True) if amp_dtype == 'bf16' else
                   dict(enabled=True, loss_scale=0, initial_scale_power=16))
        cfg.strategy[amp_dtype] = section
        cfg.strategy['inputs_to_half'] = ['inputs']
        return f'DeepSpeed {amp_dtype}: {section}'
    fp16_scaling = dict(type='AmpOptimWrapper', dtype=dtype, loss_scale='dynamic')
    if kind == 'FSDPStrategy':
        wrapper = cfg.strategy.setdefault('model_wrapper',
                                          ConfigDict(type='MMFullyShardedDataParallel'))
        wrapper['mixed_precision'] = dict(param_dtype=dtype, reduce_dtype='float32',
                                          buffer_dtype=dtype)
        if amp_dtype == 'fp16':
            cfg.optim_wrapper.update(fp16_scaling)
        return f'FSDP MixedPrecision {wrapper["mixed_precision"]}'
    cfg.optim_wrapper.update(dict(type='AutocastOptimWrapper', dtype=dtype)
                             if amp_dtype == 'bf16' else fp16_scaling)
    return f'optim_wrapper {cfg.optim_wrapper.type} ({dtype})'
