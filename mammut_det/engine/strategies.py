"""What the training tools and hooks need to know about MMEngine's training strategies.

A config trains with the normal ``Runner`` (DDP under a launcher) unless it says
``runner_type='FlexibleRunner'`` and a ``strategy``: ``FSDPStrategy`` (the model inside
``MMFullyShardedDataParallel``) or ``DeepSpeedStrategy`` (inside ``MMDeepSpeedEngineWrapper``
around a ``DeepSpeedEngine``). Hooks reach the model through :func:`unwrap_model` and write
parameters in place through :func:`writable_parameters`, whichever it is.
"""
from __future__ import annotations

import os.path as osp
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from mmengine.config import Config
from mmengine.model import is_model_wrapper
from mmengine.registry import FUNCTIONS
from torch import nn
from torch.distributed.fsdp import FullyShardedDataParallel
from torch.distributed.fsdp.wrap import transformer_auto_wrap_policy

from ..models.layers import Block, CrossAttentionBlock


def strategy_type(cfg: Config | dict) -> str | None:
    """The strategy a config trains with: ``'FSDPStrategy'``, ``'DeepSpeedStrategy'``, ... for
    ``runner_type='FlexibleRunner'`` (``'DDPStrategy'`` when it names none), ``None`` for the
    normal ``Runner``."""
    if cfg.get('runner_type') != 'FlexibleRunner':
        return None
    kind = (cfg.get('strategy') or {}).get('type', 'DDPStrategy')
    return kind if isinstance(kind, str) else kind.__name__


@FUNCTIONS.register_module()
def mammut_block_wrap_policy(module: nn.Module, recurse: bool, nonwrapped_numel: int) -> bool:
    """FSDP auto-wrap policy (``auto_wrap_policy='mammut_block_wrap_policy'``): one FSDP unit per
    transformer block, self-attention (``Block``) or cross-attention (``CrossAttentionBlock``), of
    the image encoder and the text decoder; the rest (embeddings, LM head, projections) is in the
    root unit. Only one block's full parameters are gathered at a time."""
    return transformer_auto_wrap_policy(module, recurse, nonwrapped_numel,
                                        {Block, CrossAttentionBlock})


def _deepspeed_engine_type() -> type | None:
    module = sys.modules.get('deepspeed')
    return getattr(module, 'DeepSpeedEngine', None)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model inside whatever wraps it: ``DistributedDataParallel``,
    ``MMFullyShardedDataParallel`` / ``FullyShardedDataParallel`` (``.module``) and
    ``MMDeepSpeedEngineWrapper`` (``.model``, a ``DeepSpeedEngine``, whose ``.module`` it is).
    Under FSDP its blocks may be wrapped units themselves; attributes set on the returned module
    (and on modules that FSDP did not wrap) reach the model that runs."""
    engine = _deepspeed_engine_type()
    while True:
        if is_model_wrapper(model) and hasattr(model, 'module'):
            model = model.module
        elif isinstance(model, FullyShardedDataParallel):
            model = model.module
        elif engine is not None and isinstance(model, engine):
            model = model.module
        else:
            return model


@contextmanager
def writable_parameters(model: nn.Module, params: Sequence[nn.Parameter]) -> Iterator[None]:
    """Write ``params`` in place inside this context so that the next step uses what was written.

    - No wrapper, DDP: the parameters are the tensors the optimizer steps.
    - FSDP with ``use_orig_params=True`` (mmengine's default): outside forward, each original
      parameter is a view of this rank's shard of the flat parameter the optimizer steps (size 0
      on ranks that hold none of it), so an elementwise in-place write reaches the shard, and the
      next forward gathers it.
    - DeepSpeed ZeRO: the optimizer steps an fp32 copy (ZeRO 1/2: its partition of a flat
      clone, even in fp32 training) and copies it back into the module after each step, so a
      write to the module alone is undone by the next step. The written values are copied into
      the fp32 copy on exit (``deepspeed.utils.safe_set_full_fp32_param``). Under ZeRO 3 the
      parameters are gathered for the write (``deepspeed.zero.GatheredParameters``, rank 0's
      values kept).
    """
    engine = getattr(model, 'model', model)
    deepspeed_engine = _deepspeed_engine_type()
    if deepspeed_engine is None or not isinstance(engine, deepspeed_engine):
        yield
        return
    import deepspeed
    from deepspeed.utils import safe_set_full_fp32_param
    zero3 = [p for p in params if hasattr(p, 'ds_id')]
    with deepspeed.zero.GatheredParameters(zero3, modifier_rank=0, enabled=bool(zero3)):
        yield
        for p in params:
            safe_set_full_fp32_param(p, p.detach().float())


def zero_to_state_dict(folder: str, out: str | None = None) -> dict:
    """A DeepSpeed ZeRO checkpoint folder (``work_dir/iter_N.pth/``, what ``DeepSpeedStrategy``
    saves) as a plain checkpoint ``{'state_dict', 'meta'}``, which ``tools/test.py``, the
    detector's backbone and the class embedder load; saved to ``out`` when given.

    The float32 weights come from the optimizer's partitions (deepspeed's ``zero_to_fp32``),
    shaped as the module's own state dict in the folder has them (so 0-dim parameters, which
    train as 1-D under DeepSpeed, are 0-dim again); buffers come from that state dict."""
    from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint
    dirname, tag = osp.split(osp.normpath(folder))
    weights = get_fp32_state_dict_from_zero_checkpoint(dirname, tag=tag)
    # a DeepSpeed file (client state: meta, message hub, schedulers) this run wrote itself
    saved = torch.load(osp.join(folder, 'mp_rank_00_model_states.pt'), map_location='cpu',
                       weights_only=False)
    state_dict = {}
    for key, value in saved['module'].items():
        full = weights.get(key, value)
        state_dict[key] = full.reshape(value.shape) if full.numel() == value.numel() else full
    checkpoint = dict(state_dict=state_dict, meta=saved.get('meta', {}))
    if out is not None:
        torch.save(checkpoint, out)
    return checkpoint
