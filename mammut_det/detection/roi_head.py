"""A StandardRoIHead whose box prediction can fuse per-RoI VLM scores (boxes only)."""
from __future__ import annotations

from mmdet.models.roi_heads import StandardRoIHead
from mmdet.models.utils import empty_instances
from mmdet.structures.bbox import bbox2roi
from mmengine.registry import MODELS
from mmengine.structures import InstanceData
from torch import Tensor


@MODELS.register_module()
class OVRoIHead(StandardRoIHead):
    """Box-only RoI head for :class:`OVBBoxHead`: ``predict`` takes optional ``vlm_scores``
    [sum n_i, K] (one row per proposal, in the order of ``rpn_results_list``) and per-class
    fusion ``vlm_weights`` [K], passed on to the box head before NMS."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.with_mask:
            raise ValueError('OVRoIHead predicts boxes only; remove mask_head')

    def predict(self, x: tuple[Tensor], rpn_results_list: list[InstanceData],
                batch_data_samples: list, rescale: bool = False,
                vlm_scores: Tensor | None = None,
                vlm_weights: Tensor | None = None) -> list[InstanceData]:
        batch_img_metas = [s.metainfo for s in batch_data_samples]
        return self.predict_bbox(x, batch_img_metas, rpn_results_list, self.test_cfg, rescale,
                                 vlm_scores=vlm_scores, vlm_weights=vlm_weights)

    def predict_bbox(self, x: tuple[Tensor], batch_img_metas: list[dict],
                     rpn_results_list: list[InstanceData], rcnn_test_cfg: dict | None,
                     rescale: bool = False, vlm_scores: Tensor | None = None,
                     vlm_weights: Tensor | None = None) -> list[InstanceData]:
        proposals = [res.bboxes for res in rpn_results_list]
        rois = bbox2roi(proposals)
        if rois.shape[0] == 0:
            return empty_instances(batch_img_metas, rois.device, task_type='bbox',
                                   box_type=self.bbox_head.predict_box_type,
                                   num_classes=self.bbox_head.num_classes,
                                   score_per_cls=rcnn_test_cfg is None)
        bbox_results = self._bbox_forward(x, rois)
        sizes = tuple(len(p) for p in proposals)
        kwargs = {}
        if vlm_scores is not None:
            if vlm_scores.shape[0] != rois.shape[0]:
                raise ValueError(f'{vlm_scores.shape[0]} VLM score rows for {rois.shape[0]} RoIs')
            kwargs = dict(vlm_scores=vlm_scores.split(sizes, 0), vlm_weights=vlm_weights)
        return self.bbox_head.predict_by_feat(
            rois=rois.split(sizes, 0), cls_scores=bbox_results['cls_score'].split(sizes, 0),
            bbox_preds=bbox_results['bbox_pred'].split(sizes, 0),
            batch_img_metas=batch_img_metas, rcnn_test_cfg=rcnn_test_cfg, rescale=rescale,
            **kwargs)
