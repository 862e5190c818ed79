"""ViTDet's simple feature pyramid: multi-scale maps from a plain ViT's single map."""
from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmengine.registry import MODELS
from torch import Tensor, nn


@MODELS.register_module(name='LN2d')
class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of a [B, C, H, W] map (``norm_cfg=dict(type='LN2d')``)."""

    _abbr_ = 'ln'

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


@MODELS.register_module()
class SimpleFeaturePyramid(BaseModule):
    """Maps at ``scale_factors`` x the input resolution, each followed by a 1x1 and a 3x3 conv
    (with ``norm_cfg``), plus ``num_outs - len(scale_factors)`` stride-2 subsamplings of the last
    (ViTDet's ``LastLevelMaxPool``). From a stride-16 map the defaults give strides 4, 8, 16, 32,
    64.

    Up-scaling is by 2x2 stride-2 transposed convolutions (LayerNorm and GELU between two of them
    for x4), down-scaling by 2x2 max-pooling; the channels of the x4 and x2 branches are C/4 and
    C/2.

    Args:
        in_channels: channels C of the backbone map.
        out_channels: channels of every output.
        scale_factors: from {4, 2, 1, 0.5}, finest first.
        num_outs: number of outputs (>= ``len(scale_factors)``).
        norm_cfg: norm after each conv (``LN2d`` as ViTDet).
    """

    def __init__(self, in_channels: int, out_channels: int = 256,
                 scale_factors: Sequence[float] = (4.0, 2.0, 1.0, 0.5), num_outs: int = 5,
                 norm_cfg: dict | None = None, init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        norm_cfg = norm_cfg or dict(type='LN2d')
        if num_outs < len(scale_factors):
            raise ValueError(f'num_outs {num_outs} < {len(scale_factors)} scale factors')
        self.scale_factors = tuple(float(s) for s in scale_factors)
        self.num_outs = num_outs
        self.stages = nn.ModuleList()
        self.output_convs = nn.ModuleList()
        for scale in self.scale_factors:
            stage, dim = self._rescale(scale, in_channels)
            self.stages.append(stage)
            self.output_convs.append(nn.Sequential(
                ConvModule(dim, out_channels, 1, norm_cfg=norm_cfg, act_cfg=None),
                ConvModule(out_channels, out_channels, 3, padding=1, norm_cfg=norm_cfg,
                           act_cfg=None)))

    @staticmethod
    def _rescale(scale: float, c: int) -> tuple[nn.Module, int]:
        if scale == 4.0:
            return nn.Sequential(nn.ConvTranspose2d(c, c // 2, 2, 2), LayerNorm2d(c // 2),
                                 nn.GELU(), nn.ConvTranspose2d(c // 2, c // 4, 2, 2)), c // 4
        if scale == 2.0:
            return nn.ConvTranspose2d(c, c // 2, 2, 2), c // 2
        if scale == 1.0:
            return nn.Identity(), c
        if scale == 0.5:
            return nn.MaxPool2d(2, 2), c
        raise ValueError(f'scale factor {scale} is not one of 4, 2, 1, 0.5')

    def forward(self, inputs: Sequence[Tensor]) -> tuple[Tensor, ...]:
        """``inputs``: the backbone outputs; the last [B, C, h, w] is used. Returns ``num_outs``
        maps [B, out_channels, h * s, w * s], finest first."""
        x = inputs[-1]
        outs = [conv(stage(x)) for stage, conv in zip(self.stages, self.output_convs)]
        while len(outs) < self.num_outs:
            outs.append(F.max_pool2d(outs[-1], kernel_size=1, stride=2))
        return tuple(outs)
