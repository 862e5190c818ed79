"""Image-caption transforms; loading, flipping and resizing come from mmcv.

:class:`TokenizeCaption` turns the caption into token ids in the data workers, so the training
process only pads each batch to its longest caption.

mmcv 2.1 has no random resized crop, mmdet 3.3 only fixed-size crops, and mmaction2's
``RandomResizedCrop`` crops clips (``imgs``) without resizing, so :class:`RandomResizedCrop`
below is the Inception-style crop for single images (argument names follow mmpretrain's).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import mmcv
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmengine.registry import TRANSFORMS
from mmengine.structures import BaseDataElement

from ..registry import TOKENIZERS
from ..text.base import BaseTokenizer


@TRANSFORMS.register_module()
class RandomResizedCrop(BaseTransform):
    """Crop a random area and aspect ratio of ``img``, then resize it to ``scale``.

    The crop covers a fraction of the image area drawn from ``crop_ratio_range`` and has a
    width/height ratio drawn log-uniformly from ``aspect_ratio_range``; after ``max_attempts``
    draws that do not fit it falls back to the largest centred crop within the ratio range.
    Randomness comes from ``np.random``, which MMEngine seeds per worker.

    Required keys: ``img``. Modified keys: ``img``, ``img_shape``. Added key: ``crop_bbox``
    (x1, y1, x2, y2), the crop's pixel edges in the input image.

    Args:
        scale: output size, an int for a square or ``(w, h)``.
        crop_ratio_range: range of the crop area as a fraction of the image area.
        aspect_ratio_range: range of the crop's width / height.
        max_attempts: draws before the centred fallback.
        interpolation: ``mmcv.imresize`` interpolation.
        backend: ``mmcv.imresize`` backend.
    """

    def __init__(self, scale: int | Sequence[int],
                 crop_ratio_range: tuple[float, float] = (0.08, 1.0),
                 aspect_ratio_range: tuple[float, float] = (3. / 4., 4. / 3.),
                 max_attempts: int = 10, interpolation: str = 'bilinear',
                 backend: str = 'cv2') -> None:
        self.scale = (scale, scale) if isinstance(scale, int) else tuple(scale)
        if len(self.scale) != 2 or min(self.scale) <= 0:
            raise ValueError(f'RandomResizedCrop: scale must be a positive int or (w, h), '
                             f'got {scale!r}')
        lo, hi = crop_ratio_range
        if not 0 < lo <= hi <= 1:
            raise ValueError(f'RandomResizedCrop: crop_ratio_range must satisfy '
                             f'0 < low <= high <= 1, got {crop_ratio_range!r}')
        if not 0 < aspect_ratio_range[0] <= aspect_ratio_range[1]:
            raise ValueError(f'RandomResizedCrop: aspect_ratio_range must satisfy '
                             f'0 < low <= high, got {aspect_ratio_range!r}')
        self.crop_ratio_range = (float(lo), float(hi))
        self.aspect_ratio_range = tuple(float(r) for r in aspect_ratio_range)
        self.max_attempts = max_attempts
        self.interpolation = interpolation
        self.backend = backend

    @cache_randomness
    def rand_crop_params(self, h: int, w: int) -> tuple[int, int, int, int]:
        """(top, left, crop_h, crop_w) of a crop of an ``h`` x ``w`` image."""
        log_ratio = np.log(self.aspect_ratio_range)
        for _ in range(self.max_attempts):
            area = h * w * np.random.uniform(*self.crop_ratio_range)
            ratio = math.exp(np.random.uniform(*log_ratio))
            cw, ch = round(math.sqrt(area * ratio)), round(math.sqrt(area / ratio))
            if 0 < cw <= w and 0 < ch <= h:
                return np.random.randint(0, h - ch + 1), np.random.randint(0, w - cw + 1), ch, cw
        ratio = w / h
        if ratio < self.aspect_ratio_range[0]:
            cw, ch = w, round(w / self.aspect_ratio_range[0])
        elif ratio > self.aspect_ratio_range[1]:
            ch, cw = h, round(h * self.aspect_ratio_range[1])
        else:
            ch, cw = h, w
        return (h - ch) // 2, (w - cw) // 2, ch, cw

    def transform(self, results: dict) -> dict:
        img = results['img']
        top, left, ch, cw = self.rand_crop_params(*img.shape[:2])
        crop = img[top:top + ch, left:left + cw]
        results['img'] = mmcv.imresize(crop, self.scale, interpolation=self.interpolation,
                                       backend=self.backend)
        results['img_shape'] = results['img'].shape[:2]
        results['crop_bbox'] = (left, top, left + cw, top + ch)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(scale={self.scale}, '
                f'crop_ratio_range={self.crop_ratio_range}, '
                f'aspect_ratio_range={self.aspect_ratio_range}, '
                f'max_attempts={self.max_attempts}, interpolation={self.interpolation!r}, '
                f'backend={self.backend!r})')


@TRANSFORMS.register_module()
class TokenizeCaption(BaseTransform):
    """Tokenise ``caption`` into ``text_tokens``: a LongTensor [n] of start + ids + end, cut to
    the tokenizer's context (last id set to end), not padded; the model pads the batch.

    Required keys: ``caption``. Added key: ``text_tokens``.

    Args:
        tokenizer: a tokenizer config for ``mammut_det.registry.TOKENIZERS`` or an instance; the
            same one the model uses.
    """

    def __init__(self, tokenizer: dict | BaseTokenizer) -> None:
        self.tokenizer = TOKENIZERS.build(tokenizer) if isinstance(tokenizer, dict) else tokenizer

    def transform(self, results: dict) -> dict:
        ids = self.tokenizer.token_ids([results['caption']])[0]
        results['text_tokens'] = torch.tensor(ids, dtype=torch.long)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(tokenizer={type(self.tokenizer).__name__})'


@TRANSFORMS.register_module()
class PackCaptionInputs(BaseTransform):
    """Pack an image-caption sample for :class:`mammut_det.models.MaMMUT`.

    Returns ``inputs``, a uint8 (or the image's dtype) tensor [C, H, W] in the image's channel
    order (BGR from ``LoadImageFromFile``; the model's ``ImgDataPreprocessor`` converts and
    normalises), and ``data_samples``, a :class:`BaseDataElement` whose metainfo holds the
    ``meta_keys`` present in the results (``caption`` among them when the sample has one) and,
    for a labelled image, the data field ``gt_label`` (a long tensor [1]), and for a tokenised
    caption the data field ``text_tokens`` (:class:`TokenizeCaption`).
    """

    def __init__(self, meta_keys: Sequence[str] = ('caption', 'img_path', 'img_id', 'ori_shape',
                                                   'img_shape', 'flip', 'flip_direction')) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        img = results['img']
        if img.ndim == 2:
            img = img[..., None]
        inputs = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
        meta = {k: results[k] for k in self.meta_keys if k in results}
        sample = BaseDataElement(metainfo=meta)
        if 'gt_label' in results:
            sample.gt_label = torch.as_tensor(results['gt_label'], dtype=torch.long).view(1)
        if 'text_tokens' in results:
            sample.text_tokens = results['text_tokens']
        return dict(inputs=inputs, data_samples=sample)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(meta_keys={self.meta_keys})'
