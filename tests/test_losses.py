"""The pretraining losses against independent implementations of their reference formulas."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mammut_det.models import focal_contrastive_loss, infonce_loss


def rovit_term(x: float, positive: bool, alpha: float, gamma: float) -> float:
    """One entry of RO-ViT's ``compute_focal_contrastive_loss`` (fvlm/rovit), written out:
    cross entropy ``max(x, 0) - x t + log(1 + exp(-|x|))``, modulator
    ``exp(gamma t (-x) - gamma softplus(-x))``, weight ``2 alpha`` (positive) or
    ``2 (1 - alpha)`` (negative)."""
    t = 1.0 if positive else 0.0
    ce = max(x, 0.0) - x * t + math.log1p(math.exp(-abs(x)))
    softplus_neg = math.log1p(math.exp(-x))
    modulator = math.exp(gamma * t * (-x) - gamma * softplus_neg)
    weight = 2 * alpha if positive else 2 * (1 - alpha)
    return weight * modulator * ce


def rovit_loss(logits: np.ndarray, alpha: float, gamma: float) -> float:
    """RO-ViT's contrastive loss: image-to-text plus text-to-image, each summed over the matrix
    with the diagonal as positives and divided by the batch size."""
    b = logits.shape[0]

    def one_way(m: np.ndarray) -> float:
        return sum(rovit_term(float(m[i, j]), i == j, alpha, gamma)
                   for i in range(b) for j in range(b)) / b

    return one_way(logits) + one_way(logits.T)


LOGITS_3 = [[2.0, -1.0, 0.5], [0.0, 1.5, -2.0], [1.0, 0.3, -0.7]]


@pytest.mark.parametrize('alpha,gamma', [(0.5, 1.0), (0.25, 2.0), (0.5, 0.0)])
def test_focal_loss_equals_the_rovit_reference_on_3x3(alpha, gamma):
    logits = torch.tensor(LOGITS_3, dtype=torch.float64)
    want = rovit_loss(np.array(LOGITS_3), alpha, gamma)
    got = focal_contrastive_loss(logits, alpha=alpha, gamma=gamma)
    assert got.item() == pytest.approx(want, rel=1e-9)


def test_focal_loss_equals_the_rovit_reference_on_random_8x8():
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(8, 8, generator=g, dtype=torch.float64) * 4
    want = rovit_loss(logits.numpy(), 0.5, 1.0)
    assert focal_contrastive_loss(logits).item() == pytest.approx(want, rel=1e-9)


def test_focal_loss_default_weights_every_entry_by_one():
    """alpha = 0.5, gamma = 0: every entry weighs 1 (DESIGN.md), so the loss is twice the summed
    binary cross-entropy divided by B."""
    logits = torch.tensor(LOGITS_3, dtype=torch.float64)
    bce = 0.0
    for i in range(3):
        for j in range(3):
            p = 1 / (1 + math.exp(-LOGITS_3[i][j]))
            bce += -math.log(p) if i == j else -math.log(1 - p)
    got = focal_contrastive_loss(logits, alpha=0.5, gamma=0.0)
    assert got.item() == pytest.approx(2 * bce / 3, rel=1e-9)


def test_local_rows_against_all_columns_sum_to_the_full_loss():
    """The ``local_loss`` split: rows of one process (with their positives at an offset) against
    every column; the per-process losses, each normalised by its own row count, average to the
    full-matrix loss."""
    g = torch.Generator().manual_seed(0)
    img, txt = torch.randn(8, 5, generator=g), torch.randn(8, 5, generator=g)
    full = focal_contrastive_loss(img @ txt.t())
    parts = [focal_contrastive_loss(img[r * 4:(r + 1) * 4] @ txt.t(),
                                    txt[r * 4:(r + 1) * 4] @ img.t(), offset=r * 4)
             for r in range(2)]
    torch.testing.assert_close(sum(parts) / 2, full)
    full_nce = infonce_loss(img @ txt.t())
    parts = [infonce_loss(img[r * 4:(r + 1) * 4] @ txt.t(), txt[r * 4:(r + 1) * 4] @ img.t(),
                          offset=r * 4) for r in range(2)]
    torch.testing.assert_close(sum(parts) / 2, full_nce)


def test_infonce_equals_clip_formula():
    logits = torch.tensor(LOGITS_3, dtype=torch.float64)
    want = 0.0
    for m in (np.array(LOGITS_3), np.array(LOGITS_3).T):
        for i in range(3):
            want += -(m[i, i] - math.log(sum(math.exp(v) for v in m[i]))) / 3
    assert infonce_loss(logits).item() == pytest.approx(want / 2, rel=1e-9)


def test_focal_loss_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match='square'):
        focal_contrastive_loss(torch.zeros(2, 3))
    with pytest.raises(ValueError, match='shape'):
        focal_contrastive_loss(torch.zeros(2, 4), torch.zeros(3, 4))


def test_chunked_lm_head_loss_equals_the_full_cross_entropy():
    from mammut_det.models.losses import lm_head_cross_entropy_sum
    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(37, 16, generator=g, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(50, 16, generator=g, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(50, (37,), generator=g)
    want = torch.nn.functional.cross_entropy(hidden @ weight.t(), targets, reduction='sum')
    want_grads = torch.autograd.grad(2.5 * want, (hidden, weight))
    got = lm_head_cross_entropy_sum(hidden, weight, targets, chunk_size=8)
    got_grads = torch.autograd.grad(2.5 * got, (hidden, weight))
    torch.testing.assert_close(got, want)
    for a, b in zip(got_grads, want_grads):
        torch.testing.assert_close(a, b)


def test_chunked_lm_head_loss_never_holds_all_logits():
    """No tensor made in the forward or backward pass has as many elements as the [M, V] logits
    (a dispatch mode sees every tensor an operator returns)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    from mammut_det.models.losses import lm_head_cross_entropy_sum

    class Largest(TorchDispatchMode):
        numel = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for t in out if isinstance(out, (tuple, list)) else [out]:
                if isinstance(t, torch.Tensor):
                    Largest.numel = max(Largest.numel, t.numel())
            return out

    m, v, w = 300, 2000, 8
    hidden = torch.randn(m, w, requires_grad=True)
    weight = torch.randn(v, w, requires_grad=True)
    targets = torch.randint(v, (m,))
    with Largest():
        lm_head_cross_entropy_sum(hidden, weight, targets, chunk_size=32).backward()
    assert Largest.numel <= 32 * v < m * v
    assert hidden.grad is not None and weight.grad is not None
