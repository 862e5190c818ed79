"""Activation checkpointing of transformer blocks (``with_cp``)."""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.utils.checkpoint as cp


def checkpointed(block: Callable, *args, enabled: bool, **kwargs):
    """``block(*args, **kwargs)``; when ``enabled`` and autograd is recording, its activations
    are not kept but recomputed in the backward pass (non-reentrant
    ``torch.utils.checkpoint``): less memory for one more forward of the block, with the same
    outputs and gradients."""
    if enabled and torch.is_grad_enabled():
        return cp.checkpoint(block, *args, use_reentrant=False, **kwargs)
    return block(*args, **kwargs)
