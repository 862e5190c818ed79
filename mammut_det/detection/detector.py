"""The MaMMUT open-vocabulary detector: ViT backbone, simple pyramid, RPN, text-classifier RoI
head, and the test-time VLM score."""
from __future__ import annotations

import copy
import json
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from mmcv.ops import RoIAlign
from mmdet.models.detectors import TwoStageDetector
from mmdet.registry import MODELS as DET_MODELS
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import bbox2roi
from mmengine.registry import MODELS
from mmengine.structures import InstanceData
from torch import Tensor, nn

from ..engine.checkpoint import CheckpointKeyError
from .vocabulary import load_vocabulary, prompt_name

DEFAULT_VLM_SCORE = dict(source='backbone', weight_base=0.35, weight_novel=0.65,
                         temperature=0.01, roi_size=7)
#: where the VLM score's feature map comes from (see :class:`MaMMUTDetector`)
VLM_SOURCES = ('backbone', 'pretrained')


@MODELS.register_module()
class MaMMUTDetector(TwoStageDetector):
    """Two-stage open-vocabulary detector whose classifier is the text (F-VLM / RO-ViT style).

    The class embeddings come from ``class_embedder`` (a :class:`TextClassEmbedder`) for the
    current vocabulary; :meth:`set_vocabulary` swaps it without rebuilding anything. Classes
    outside ``seen_classes`` (those trained on, saved with the weights) take no part in the
    training loss; at test time each class's detection probability is fused with a VLM score,
    ``det ** (1 - w) * vlm ** w`` with ``w = weight_base`` for seen classes and ``weight_novel``
    for the others. The VLM score of a box: RoIAlign on an image-tower map, mean over the bins,
    ``ln_post`` and ``proj`` as in pretraining, cosine similarity to the class embeddings,
    softmax with ``temperature``.

    The map comes from ``vlm_score.source``:

    - ``'backbone'``: the detection backbone's map, fine-tuned with the detector (no extra cost).
    - ``'pretrained'``: a frozen copy of the image tower as it was before detection training (the
      pretraining weights ``backbone.init_cfg`` loads, copied in :meth:`init_weights`), in eval
      mode, without gradients, outside the optimizer (no gradient ever reaches it), saved in the
      detector checkpoint as ``vlm_backbone.*`` so testing needs that checkpoint alone. It costs
      one more backbone forward per test image and the tower's weights in memory and on disk.
    - F-VLM's frozen backbone is ``backbone.frozen_stages`` = its depth: the backbone then is the
      pretrained tower, both sources coincide and no copy is made.

    A checkpoint saved with the copy can be tested with either source.

    Args:
        backbone, neck, rpn_head, roi_head, train_cfg, test_cfg, data_preprocessor, init_cfg:
            as :class:`TwoStageDetector` (``roi_head`` an ``OVRoIHead`` with an ``OVBBoxHead``,
            whose ``embed_dim`` defaults to the text decoder's).
        class_embedder: config of the :class:`TextClassEmbedder`.
        vocabulary: initial vocabulary (anything :func:`load_vocabulary` takes).
        vlm_score: ``source`` (:data:`VLM_SOURCES`), ``weight_base``, ``weight_novel``,
            ``temperature``, ``roi_size``; ``None`` turns the VLM score off.
    """

    def __init__(self, backbone: dict, neck: dict, rpn_head: dict, roi_head: dict,
                 class_embedder: dict, train_cfg: dict | None = None,
                 test_cfg: dict | None = None, vocabulary: str | Sequence[str] = 'lvis_v1',
                 vlm_score: dict | None = DEFAULT_VLM_SCORE,
                 data_preprocessor: dict | None = None, init_cfg: dict | None = None) -> None:
        embedder = DET_MODELS.build(class_embedder)
        dim = embedder.embed_dim
        roi_head = copy.deepcopy(roi_head)
        roi_head['bbox_head'].setdefault('embed_dim', dim)
        super().__init__(backbone=backbone, neck=neck, rpn_head=rpn_head, roi_head=roi_head,
                         train_cfg=train_cfg, test_cfg=test_cfg,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if not self.with_rpn:
            raise ValueError('MaMMUTDetector needs an rpn_head')
        self.class_embedder = embedder
        head = self.roi_head.bbox_head
        if not hasattr(head, 'set_class_embeddings'):
            raise TypeError(f'roi_head.bbox_head must be an OVBBoxHead, got {type(head).__name__}')
        if head.fc_cls.proj.out_features != dim:
            raise ValueError(f'bbox_head.embed_dim {head.fc_cls.proj.out_features} != text '
                             f'embed_dim {dim}')
        self.vlm_cfg = None
        self.vlm_backbone = None
        if vlm_score is not None:
            self.vlm_cfg = {**DEFAULT_VLM_SCORE, **vlm_score}
            unknown = set(self.vlm_cfg) - set(DEFAULT_VLM_SCORE)
            if unknown:
                raise KeyError(f'vlm_score: unknown keys {sorted(unknown)}; expected '
                               f'{sorted(DEFAULT_VLM_SCORE)}')
            if self.vlm_cfg['source'] not in VLM_SOURCES:
                raise ValueError(f'vlm_score.source must be one of {VLM_SOURCES}, got '
                                 f'{self.vlm_cfg["source"]!r}')
            if getattr(self.backbone, 'embed_dim', None) != dim:
                raise ValueError(f'the VLM score needs a MaMMUTViTBackbone with embed_dim {dim}')
            if self.vlm_cfg['source'] == 'pretrained' and not self._backbone_frozen():
                self.vlm_backbone = MODELS.build(
                    {**backbone, 'init_cfg': None, 'with_cp': False}).requires_grad_(False).eval()
            self.vlm_roi_align = RoIAlign(self.vlm_cfg['roi_size'],
                                          spatial_scale=1.0 / self.backbone.patch_size,
                                          sampling_ratio=0, aligned=True)
        self.class_names: tuple[str, ...] = ()
        self.seen_classes: tuple[str, ...] | None = None
        self._classes_stale = True
        self.set_vocabulary(vocabulary, lazy=True)

    # -- the frozen VLM tower ----------------------------------------------------------------
    def _backbone_frozen(self) -> bool:
        return not any(p.requires_grad for p in self.backbone.parameters())

    def init_weights(self) -> None:
        """Initialise (the backbone loads its pretraining weights), then copy the backbone into
        the frozen VLM tower, if there is one."""
        super().init_weights()
        if self.vlm_backbone is not None:
            self.vlm_backbone.load_state_dict(self.backbone.state_dict())

    def train(self, mode: bool = True) -> MaMMUTDetector:
        """The frozen VLM tower stays in eval mode."""
        super().train(mode)
        if self.vlm_backbone is not None:
            self.vlm_backbone.eval()
        return self

    # -- vocabulary ---------------------------------------------------------------------------
    def set_vocabulary(self, vocabulary: str | Sequence[str],
                       seen_classes: Sequence[str] | None = None, lazy: bool = False) -> None:
        """Use ``vocabulary`` from now on (labels index it); ``seen_classes`` replaces the set of
        classes trained on when given. Embeddings are computed now (or from the cache), or on the
        next forward when ``lazy``."""
        self.class_names = load_vocabulary(vocabulary)
        if seen_classes is not None:
            if isinstance(seen_classes, str):
                raise TypeError('seen_classes must be a sequence of class names')
            self.seen_classes = tuple(seen_classes)
        self.roi_head.bbox_head.num_classes = len(self.class_names)
        self._classes_stale = True
        if not lazy:
            self._refresh_classes()

    @property
    def dataset_meta(self) -> dict:
        """``classes`` (the vocabulary) and, once known, ``base_classes`` (seen in training)."""
        meta = dict(classes=self.class_names)
        if self.seen_classes is not None:
            meta['base_classes'] = self.seen_classes
        return meta

    @dataset_meta.setter
    def dataset_meta(self, meta: dict) -> None:
        self.set_vocabulary(meta['classes'], seen_classes=meta.get('base_classes'), lazy=True)

    def seen_mask(self) -> Tensor:
        """[K] bool: which vocabulary classes were trained on (names compared as they read in
        the prompts, so ``'red square'`` is the trained ``'red_square'``)."""
        seen = {prompt_name(n) for n in self.seen_classes or ()}
        return torch.tensor([prompt_name(n) in seen for n in self.class_names], dtype=torch.bool)

    def _refresh_classes(self) -> None:
        embeddings = self.class_embedder(self.class_names)
        self.roi_head.bbox_head.set_class_embeddings(embeddings, self.seen_mask())
        self._classes_stale = False

    @property
    def class_embeddings(self) -> Tensor:
        """[K, D] embeddings of the current vocabulary."""
        if self._classes_stale:
            self._refresh_classes()
        return self.roi_head.bbox_head.fc_cls.class_embeddings

    def get_extra_state(self) -> Tensor:
        """The seen classes, saved with the weights as UTF-8 JSON in a uint8 tensor (MMEngine
        broadcasts state dicts between processes, which takes tensors only)."""
        seen = None if self.seen_classes is None else list(self.seen_classes)
        return torch.tensor(list(json.dumps(dict(seen_classes=seen)).encode()),
                            dtype=torch.uint8)

    def set_extra_state(self, state: Tensor) -> None:
        seen = json.loads(bytes(state.tolist()).decode())['seen_classes']
        self.seen_classes = None if seen is None else tuple(seen)

    def drop_unused_tower(self, state_dict: dict, prefix: str = '') -> dict:
        """``state_dict`` without a frozen VLM tower (``vlm_backbone.*``) that this model does
        not use (it pools the backbone's map), removed in place; so a checkpoint trained with
        ``source='pretrained'`` also tests with ``source='backbone'``."""
        if self.vlm_backbone is None:
            for key in [k for k in state_dict if k.startswith(f'{prefix}vlm_backbone.')]:
                del state_dict[key]
        return state_dict

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args, **kwargs) -> None:
        """Also: a checkpoint without the frozen VLM tower cannot fill this model's (an error
        that says so); an unused tower is dropped (:meth:`drop_unused_tower`)."""
        self._classes_stale = True
        self.drop_unused_tower(state_dict, prefix)
        tower = any(k.startswith(f'{prefix}vlm_backbone.') for k in state_dict)
        if (self.vlm_backbone is not None and not tower
                and any(k.startswith(f'{prefix}backbone.') for k in state_dict)):
            raise CheckpointKeyError(
                "vlm_score.source='pretrained' needs the frozen copy of the pretrained image "
                'tower (vlm_backbone.*), which this checkpoint lacks: it was trained with '
                "vlm_score.source='backbone'. Test it with model.vlm_score.source=backbone.")
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # -- forward ------------------------------------------------------------------------------
    def forward(self, inputs: Tensor, data_samples: list[DetDataSample] | None = None,
                mode: str = 'tensor'):
        if mode == 'loss' and self.seen_classes is None:
            self.seen_classes = self.class_names
            self._classes_stale = True
        if self._classes_stale:
            self._refresh_classes()
        return super().forward(inputs, data_samples, mode)

    def loss(self, batch_inputs: Tensor, batch_data_samples: list[DetDataSample]) -> dict:
        self._check_labels(batch_data_samples)
        return super().loss(batch_inputs, batch_data_samples)

    def _check_labels(self, batch_data_samples: list[DetDataSample]) -> None:
        mask = self.roi_head.bbox_head.fc_cls.seen_mask
        for sample in batch_data_samples:
            labels = sample.gt_instances.labels
            if labels.numel() == 0:
                continue
            top = int(labels.max())
            if top >= len(self.class_names):
                raise ValueError(f'{sample.get("img_path", "an image")}: label {top} but the '
                                 f'vocabulary has {len(self.class_names)} classes; set it to the '
                                 'dataset classes (OpenVocabularyHook does)')
            unseen = labels[~mask.to(labels.device)[labels]]
            if unseen.numel():
                name = self.class_names[int(unseen[0])]
                raise ValueError(f'{sample.get("img_path", "an image")}: annotation of class '
                                 f'{name!r}, which is not among the seen (training) classes')

    @property
    def vlm_tower(self) -> nn.Module:
        """The image tower the VLM score pools: the frozen copy, or the backbone."""
        return self.backbone if self.vlm_backbone is None else self.vlm_backbone

    def vlm_map(self, batch_inputs: Tensor, backbone_map: Tensor) -> Tensor:
        """The map [B, C, h, w] the VLM score pools: the frozen tower's on ``batch_inputs``
        [B, 3, H, W], or ``backbone_map`` (the backbone's, already computed)."""
        if self.vlm_backbone is None:
            return backbone_map
        with torch.no_grad():
            return self.vlm_backbone(batch_inputs)[-1]

    def vlm_region_embeddings(self, vlm_map: Tensor, rois: Tensor) -> Tensor:
        """L2-normalised image-text embeddings [N, D] of ``rois`` [N, 5] (batch index, x1, y1,
        x2, y2 in input pixels): RoIAlign on :meth:`vlm_map` [B, C, h, w], mean over the bins,
        then ``ln_post`` and ``proj`` of :attr:`vlm_tower` as the pretraining image feature."""
        pooled = self.vlm_roi_align(vlm_map, rois.to(vlm_map.dtype)).mean(dim=(2, 3))
        return F.normalize(self.vlm_tower.embed_regions(pooled).float(), dim=-1)

    def vlm_class_scores(self, vlm_map: Tensor, rois: Tensor) -> Tensor:
        """VLM class probabilities [N, K]: softmax over the vocabulary of the cosine similarity
        of :meth:`vlm_region_embeddings` and the class embeddings, divided by ``temperature``."""
        region = self.vlm_region_embeddings(vlm_map, rois)
        logits = region @ self.class_embeddings.float().t() / self.vlm_cfg['temperature']
        return logits.softmax(dim=-1)

    def vlm_weights(self) -> Tensor:
        """Per-class fusion exponent [K]: ``weight_base`` if seen else ``weight_novel``."""
        cfg = self.vlm_cfg
        return torch.where(self.seen_mask(), torch.tensor(cfg['weight_base']),
                           torch.tensor(cfg['weight_novel']))

    def predict(self, batch_inputs: Tensor, batch_data_samples: list[DetDataSample],
                rescale: bool = True) -> list[DetDataSample]:
        """Boxes, scores and labels (indices into the vocabulary) per image.

        With ``rescale``, boxes are in the original image's pixels and clipped to it
        (``ori_shape``); boxes left without area are dropped. mmdet's heads clip to
        ``img_shape`` only, which with ViTDet's fixed-size padding lets boxes reach into the
        padding."""
        backbone_out = self.backbone(batch_inputs)
        x = self.neck(backbone_out)
        rpn_results_list = self.rpn_head.predict(x, batch_data_samples, rescale=False)
        kwargs = {}
        if self.vlm_cfg is not None:
            rois = bbox2roi([r.bboxes for r in rpn_results_list])
            vlm_map = self.vlm_map(batch_inputs, backbone_out[-1])
            kwargs = dict(vlm_scores=self.vlm_class_scores(vlm_map, rois),
                          vlm_weights=self.vlm_weights().to(batch_inputs.device))
        results_list = self.roi_head.predict(x, rpn_results_list, batch_data_samples,
                                             rescale=rescale, **kwargs)
        if rescale:
            results_list = [clip_to_image(r, s.ori_shape)
                            for r, s in zip(results_list, batch_data_samples)]
        return self.add_pred_to_datasample(batch_data_samples, results_list)


def clip_to_image(results: InstanceData, shape: tuple[int, int]) -> InstanceData:
    """``results.bboxes`` [N, 4] (x1, y1, x2, y2) clipped to ``shape`` (h, w); the instances
    left with no area are dropped."""
    boxes = results.bboxes
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, shape[1])
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, shape[0])
    return results[(boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])]
