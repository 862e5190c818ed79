"""Open-vocabulary RoI box head: region features scored against text class embeddings."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from mmdet.models.layers import multiclass_nms
from mmdet.models.roi_heads.bbox_heads import ConvFCBBoxHead
from mmengine.registry import MODELS
from mmengine.structures import InstanceData
from torch import Tensor, nn

#: logit given to classes outside the training vocabulary while training (excluded from softmax)
UNSEEN_LOGIT = -1e4


class TextEmbeddingClassifier(nn.Module):
    """Cosine-similarity classifier: ``scale * <norm(proj(x)), [class embeddings; background]>``.

    ``x`` [N, in_features] -> logits [N, K + 1], background last. The class embeddings [K, D]
    are a non-persistent buffer set by :meth:`set_classes`; the background embedding and the
    temperature (``logit_scale`` = log(1 / T), clamped to ``max_logit_scale``) are learned. In
    training, classes marked unseen get :data:`UNSEEN_LOGIT`, so they take no part in the loss.
    """

    def __init__(self, in_features: int, embed_dim: int, init_temperature: float = 0.02,
                 max_logit_scale: float = 100.0) -> None:
        super().__init__()
        self.proj = nn.Linear(in_features, embed_dim)
        self.bg_embedding = nn.Parameter(torch.randn(embed_dim) * embed_dim ** -0.5)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)))
        self.max_logit_scale = max_logit_scale
        self.register_buffer('class_embeddings', torch.zeros(0, embed_dim), persistent=False)
        self.register_buffer('seen_mask', torch.zeros(0, dtype=torch.bool), persistent=False)

    def set_classes(self, embeddings: Tensor, seen_mask: Tensor | None = None) -> None:
        """``embeddings`` [K, D] L2-normalised; ``seen_mask`` [K] bool (all True if None)."""
        if embeddings.ndim != 2 or embeddings.shape[1] != self.proj.out_features:
            raise ValueError(f'class embeddings must be [K, {self.proj.out_features}], got '
                             f'{tuple(embeddings.shape)}')
        if seen_mask is None:
            seen_mask = torch.ones(embeddings.shape[0], dtype=torch.bool)
        if seen_mask.shape != embeddings.shape[:1]:
            raise ValueError(f'seen_mask {tuple(seen_mask.shape)} does not match '
                             f'{embeddings.shape[0]} classes')
        device = self.proj.weight.device
        self.class_embeddings = embeddings.detach().to(device=device, dtype=torch.float32)
        self.seen_mask = seen_mask.to(device=device, dtype=torch.bool)

    def forward(self, x: Tensor) -> Tensor:
        if self.class_embeddings.shape[0] == 0:
            raise RuntimeError('no class embeddings: set a vocabulary (detector.set_vocabulary) '
                               'before running the box head')
        region = F.normalize(self.proj(x), dim=-1)
        weights = torch.cat([self.class_embeddings.to(region.dtype),
                             F.normalize(self.bg_embedding, dim=-1)[None].to(region.dtype)])
        scale = self.logit_scale.exp().clamp(max=self.max_logit_scale)
        logits = scale * region @ weights.t()
        if self.training and not bool(self.seen_mask.all()):
            unseen = torch.cat([~self.seen_mask, self.seen_mask.new_zeros(1)])
            logits = logits.masked_fill(unseen, UNSEEN_LOGIT)
        return logits


def fuse_scores(det_probs: Tensor, vlm_probs: Tensor, weights: Tensor) -> Tensor:
    """Geometric mean ``det ** (1 - w) * vlm ** w`` per class.

    ``det_probs`` [N, K + 1] (background last, kept as is), ``vlm_probs`` [N, K], ``weights``
    [K] -> [N, K + 1].
    """
    k = vlm_probs.shape[1]
    fg = det_probs[:, :k].pow(1 - weights) * vlm_probs.pow(weights)
    return torch.cat([fg, det_probs[:, k:]], dim=1)


def keep_top_candidates(scores: Tensor, k: int | None) -> Tensor:
    """Zero all but the ``k`` best (box, class) scores of ``scores`` [N, K + 1] (background, the
    last column, untouched); ties at the cut are kept. A large vocabulary otherwise sends
    N x K pairs to NMS."""
    fg = scores[:, :-1]
    if not k or fg.numel() <= k:
        return scores
    cut = fg.flatten().topk(k).values[-1]
    return torch.cat([fg.where(fg >= cut, torch.zeros_like(fg)), scores[:, -1:]], dim=1)


@MODELS.register_module()
class OVBBoxHead(ConvFCBBoxHead):
    """ConvFC box head whose classifier (``fc_cls``) is a :class:`TextEmbeddingClassifier`.

    Regression is class-agnostic. ``num_classes`` follows the vocabulary set through
    :meth:`set_class_embeddings`. At test time :meth:`predict_by_feat` can fuse VLM scores into
    the class probabilities before NMS (:func:`fuse_scores`).

    Args:
        embed_dim: size of the class embeddings.
        init_temperature, max_logit_scale: the classifier's learned temperature.
        **kwargs: :class:`ConvFCBBoxHead` arguments (defaults: two shared FCs as
            ``Shared2FCBBoxHead``).
    """

    def __init__(self, embed_dim: int, init_temperature: float = 0.02,
                 max_logit_scale: float = 100.0, num_shared_fcs: int = 2,
                 fc_out_channels: int = 1024, reg_class_agnostic: bool = True, **kwargs) -> None:
        if not reg_class_agnostic:
            raise ValueError('OVBBoxHead regresses class-agnostically: reg_class_agnostic must '
                             'be True')
        loss_cls = kwargs.get('loss_cls', {})
        if loss_cls.get('use_sigmoid', False):
            raise ValueError('OVBBoxHead scores with a softmax over classes + background: '
                             'loss_cls.use_sigmoid must be False')
        super().__init__(num_shared_fcs=num_shared_fcs, fc_out_channels=fc_out_channels,
                         reg_class_agnostic=True, **kwargs)
        self.fc_cls = TextEmbeddingClassifier(self.cls_last_dim, embed_dim, init_temperature,
                                              max_logit_scale)

    def set_class_embeddings(self, embeddings: Tensor, seen_mask: Tensor | None = None) -> None:
        """Install a vocabulary: embeddings [K, D], seen_mask [K]; sets ``num_classes`` = K."""
        self.fc_cls.set_classes(embeddings, seen_mask)
        self.num_classes = embeddings.shape[0]

    def predict_by_feat(self, rois: tuple[Tensor], cls_scores: tuple[Tensor],
                        bbox_preds: tuple[Tensor], batch_img_metas: list[dict],
                        rcnn_test_cfg: dict | None = None, rescale: bool = False,
                        vlm_scores: tuple[Tensor] | None = None,
                        vlm_weights: Tensor | None = None) -> list[InstanceData]:
        """As :meth:`BBoxHead.predict_by_feat`; with ``vlm_scores`` (per image [n_i, K] class
        probabilities) and ``vlm_weights`` [K], the softmax scores are fused with them
        (:func:`fuse_scores`). ``rcnn_test_cfg.max_candidates`` (optional) keeps only that many
        best (box, class) pairs per image for NMS."""
        return [self._predict_single(rois[i], cls_scores[i], bbox_preds[i],
                                     None if vlm_scores is None else vlm_scores[i], vlm_weights,
                                     batch_img_metas[i], rescale, rcnn_test_cfg)
                for i in range(len(batch_img_metas))]

    def _predict_single(self, roi: Tensor, cls_score: Tensor, bbox_pred: Tensor,
                        vlm_score: Tensor | None, vlm_weights: Tensor | None, img_meta: dict,
                        rescale: bool, rcnn_test_cfg: dict | None) -> InstanceData:
        if roi.shape[0] == 0 or (rcnn_test_cfg is None and vlm_score is None):
            return self._predict_by_feat_single(roi, cls_score, bbox_pred, img_meta, rescale,
                                                rcnn_test_cfg)
        # decoded (and rescaled) boxes with plain softmax scores, before NMS
        raw = self._predict_by_feat_single(roi, cls_score, bbox_pred, img_meta, rescale, None)
        scores = raw.scores
        if vlm_score is not None:
            scores = fuse_scores(scores, vlm_score.to(scores.dtype), vlm_weights)
        if rcnn_test_cfg is None:
            raw.scores = scores
            return raw
        scores = keep_top_candidates(scores, rcnn_test_cfg.get('max_candidates'))
        det_bboxes, det_labels = multiclass_nms(
            raw.bboxes, scores, rcnn_test_cfg.score_thr, rcnn_test_cfg.nms,
            rcnn_test_cfg.max_per_img, box_dim=raw.bboxes.shape[-1])
        results = InstanceData()
        results.bboxes = det_bboxes[:, :-1]
        results.scores = det_bboxes[:, -1]
        results.labels = det_labels
        return results
