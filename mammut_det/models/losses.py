"""Pretraining losses: focal contrastive (RO-ViT), softmax InfoNCE, captioning cross-entropy."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def focal_contrastive_loss(logits: Tensor, alpha: float = 0.5, gamma: float = 1.0) -> Tensor:
    """Sigmoid focal loss over an image-text logit matrix with the diagonal as positives.

    ``logits``: [B, B] (already scaled by the temperature). Per entry
    ``alpha_t * (1 - p_t) ** gamma * BCE``, with ``alpha_t = alpha`` on positives and
    ``1 - alpha`` on negatives; summed over the matrix and divided by B.
    """
    if logits.ndim != 2 or logits.shape[0] != logits.shape[1]:
        raise ValueError(f'expected a square [B, B] logit matrix, got {tuple(logits.shape)}')
    target = torch.eye(logits.shape[0], device=logits.device, dtype=logits.dtype)
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction='none')
    p = torch.sigmoid(logits)
    p_t = p * target + (1 - p) * (1 - target)
    alpha_t = alpha * target + (1 - alpha) * (1 - target)
    return (alpha_t * (1 - p_t) ** gamma * bce).sum() / logits.shape[0]


def infonce_loss(logits: Tensor) -> Tensor:
    """Symmetric softmax InfoNCE (CLIP) over a [B, B] logit matrix."""
    target = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))


def caption_loss(logits: Tensor, tokens: Tensor, pad_id: int) -> Tensor:
    """Next-token cross-entropy: ``logits`` [B, L-1, V] predict ``tokens[:, 1:]``; pads ignored."""
    target = tokens[:, 1:]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), target.reshape(-1),
                           ignore_index=pad_id)
