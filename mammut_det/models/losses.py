"""Pretraining losses: focal contrastive (RO-ViT), softmax InfoNCE, captioning cross-entropy.

The contrastive losses take the logits of the rows a process owns against every column of the
(global) batch: ``logits_per_image`` [R, C] (R images against C texts) and ``logits_per_text``
[R, C] (R texts against C images), the positive of row ``i`` in column ``offset + i``. With the
full matrix on one process, ``R == C``, ``offset == 0`` and ``logits_per_text`` is the transpose.
Each direction is normalised by its row count R, so the mean of the per-process losses over a
``local_loss`` split equals the full-matrix loss (open_clip's ``ClipLoss`` convention).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _check(logits_per_image: Tensor, logits_per_text: Tensor | None,
           offset: int) -> Tensor:
    if logits_per_image.ndim != 2:
        raise ValueError(f'expected a [R, C] logit matrix, got {tuple(logits_per_image.shape)}')
    if logits_per_text is None:
        if logits_per_image.shape[0] != logits_per_image.shape[1] or offset:
            raise ValueError('without logits_per_text the image-text logit matrix must be '
                             f'square, got {tuple(logits_per_image.shape)}')
        return logits_per_image.t()
    if logits_per_text.shape != logits_per_image.shape:
        raise ValueError(f'logits_per_text has shape {tuple(logits_per_text.shape)}, '
                         f'logits_per_image {tuple(logits_per_image.shape)}')
    return logits_per_text


def _positives(logits: Tensor, offset: int) -> Tensor:
    """[R, C] float target with ones at (i, offset + i)."""
    target = torch.zeros_like(logits)
    rows = torch.arange(logits.shape[0], device=logits.device)
    target[rows, rows + offset] = 1
    return target


def sigmoid_focal_one_way(logits: Tensor, offset: int = 0, alpha: float = 0.5,
                          gamma: float = 1.0) -> Tensor:
    """One direction of RO-ViT's focal contrastive loss: the sum over ``logits`` [R, C] of
    ``w_t (1 - p_t)^gamma BCE``, ``w_t = 2 alpha`` on positives and ``2 (1 - alpha)`` on
    negatives, divided by R."""
    target = _positives(logits, offset)
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction='none')
    p = torch.sigmoid(logits)
    p_t = p * target + (1 - p) * (1 - target)
    weight = 2 * alpha * target + 2 * (1 - alpha) * (1 - target)
    return (weight * (1 - p_t) ** gamma * bce).sum() / logits.shape[0]


def focal_contrastive_loss(logits_per_image: Tensor, logits_per_text: Tensor | None = None,
                           alpha: float = 0.5, gamma: float = 1.0, offset: int = 0) -> Tensor:
    """RO-ViT's focal contrastive loss (``fvlm/rovit/focal_contrastive_loss.py``), the loss of the
    MaMMUT paper: ``L_I2T + L_T2I``, each the sigmoid focal loss over the logits with the
    positives on the (offset) diagonal, weighted ``2 alpha`` / ``2 (1 - alpha)`` (1 and 1 at the
    default alpha = 0.5), summed and divided by the number of rows. See the module docstring for
    the shapes."""
    logits_per_text = _check(logits_per_image, logits_per_text, offset)
    return (sigmoid_focal_one_way(logits_per_image, offset, alpha, gamma)
            + sigmoid_focal_one_way(logits_per_text, offset, alpha, gamma))


def infonce_loss(logits_per_image: Tensor, logits_per_text: Tensor | None = None,
                 offset: int = 0) -> Tensor:
    """Symmetric softmax InfoNCE (CLIP): the mean of the two directions' cross-entropies."""
    logits_per_text = _check(logits_per_image, logits_per_text, offset)
    target = offset + torch.arange(logits_per_image.shape[0], device=logits_per_image.device)
    return 0.5 * (F.cross_entropy(logits_per_image, target)
                  + F.cross_entropy(logits_per_text, target))


def caption_loss_sum(logits: Tensor, targets: Tensor) -> Tensor:
    """Summed next-token cross-entropy of ``logits`` [M, V] (real target positions only) against
    ``targets`` [M]; the caller divides by the number of real tokens in the global batch."""
    return F.cross_entropy(logits.float(), targets, reduction='sum')
