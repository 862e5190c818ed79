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


class _LMHeadCrossEntropy(torch.autograd.Function):
    """Sum of the cross-entropy of ``hidden @ weight.T`` against ``targets``, chunk by chunk.

    The loss is a scalar at the end of the graph, so its gradients are computed in the forward
    pass, one chunk of logits at a time, and only scaled by the incoming gradient in backward:
    the FLOPs of an ordinary forward and backward, but never more than ``chunk_size`` rows of
    logits in memory (the fused linear cross-entropy of Liger-Kernel and Apple's Cut Cross
    Entropy follow the same idea)."""

    @staticmethod
    def forward(ctx, hidden: Tensor, weight: Tensor, targets: Tensor,
                chunk_size: int) -> Tensor:
        need_grad = ctx.needs_input_grad[0] or ctx.needs_input_grad[1]
        acc = torch.promote_types(hidden.dtype, torch.float32)  # at least float32 for the sums
        grad_hidden = torch.empty_like(hidden) if need_grad else None
        grad_weight = torch.zeros_like(weight, dtype=acc) if need_grad else None
        total = hidden.new_zeros((), dtype=acc)
        for start in range(0, hidden.shape[0], chunk_size):
            h, t = hidden[start:start + chunk_size], targets[start:start + chunk_size]
            logits = (h @ weight.t()).to(acc)
            lse = torch.logsumexp(logits, dim=-1)
            total += (lse - logits.gather(1, t[:, None])[:, 0]).sum()
            if need_grad:
                dlogits = torch.exp(logits.sub_(lse[:, None]))
                dlogits[torch.arange(len(t), device=t.device), t] -= 1
                dlogits = dlogits.to(hidden.dtype)
                grad_hidden[start:start + chunk_size] = dlogits @ weight
                grad_weight += (dlogits.t() @ h).to(acc)
        if need_grad:
            ctx.save_for_backward(grad_hidden, grad_weight.to(weight.dtype))
        return total

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        grad_hidden, grad_weight = ctx.saved_tensors
        return (grad_hidden * grad_out.to(grad_hidden.dtype),
                grad_weight * grad_out.to(grad_weight.dtype), None, None)


def lm_head_cross_entropy_sum(hidden: Tensor, weight: Tensor, targets: Tensor,
                              chunk_size: int = 512) -> Tensor:
    """Summed next-token cross-entropy of the LM head ``weight`` [V, W] (no bias) applied to
    ``hidden`` [M, W] (real target positions only) against ``targets`` [M], computed in chunks of
    ``chunk_size`` rows so that the [M, V] logits never exist at once (forward or backward). The
    caller divides by the number of real tokens in the global batch."""
    if hidden.shape[0] == 0:
        return (hidden.sum() + weight.sum()) * 0.0
    return _LMHeadCrossEntropy.apply(hidden, weight, targets, chunk_size)
