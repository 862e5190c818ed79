"""The MaMMUT image encoder: a plain pre-norm ViT with a learned positional embedding."""
from __future__ import annotations

import torch
from mmengine.model import BaseModule
from mmengine.registry import MODELS
from torch import Tensor, nn

from .checkpointing import checkpointed
from .layers import Block
from .pos_embed import cropped_pos_embed, resample_grid, sample_crop_boxes


def _pair(x: int | tuple[int, int]) -> tuple[int, int]:
    return (x, x) if isinstance(x, int) else (int(x[0]), int(x[1]))


@MODELS.register_module()
class MaMMUTViT(BaseModule):
    """Plain ViT: patch embedding, learned positional embedding, pre-norm blocks, pooled head.

    Args:
        img_size: training resolution; the learned embedding lives on ``img_size // patch_size``.
        patch_size: side of a square patch.
        width, depth, num_heads, mlp_ratio: transformer shape.
        embed_dim: size of the pooled, projected image feature.
        class_token: prepend a learned CLS token (openMaMMUT) instead of patches only.
        patch_bias: bias in the patch convolution (openMaMMUT has none).
        pre_norm: a LayerNorm (``ln_pre``) after adding the positional embedding.
        ln_eps: LayerNorm epsilon.
        cpe: cropped positional embedding settings: ``full_size`` (the detection resolution the
            embedding is upsampled to), ``scale`` (crop area range), ``ratio`` (aspect range).
            It is applied only when ``use_cpe`` is set (by the pass-schedule hook or the config)
            and the module is in training mode. Crops are drawn from ``cpe_generator``, which
            the pass-schedule hook seeds per process and iteration (else torch's global RNG).
        with_cp: activation checkpointing of each block in training (recomputed in the
            backward pass instead of kept).
    """

    def __init__(self, img_size: int = 224, patch_size: int = 16, width: int = 768,
                 depth: int = 12, num_heads: int = 12, mlp_ratio: float = 4.0,
                 embed_dim: int = 512, class_token: bool = False, patch_bias: bool = True,
                 pre_norm: bool = False, ln_eps: float = 1e-5, use_cpe: bool = False,
                 cpe: dict | None = None, with_cp: bool = False,
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.patch_size = patch_size
        self.grid = (img_size // patch_size, img_size // patch_size)
        self.width = width
        self.embed_dim = embed_dim
        self.conv1 = nn.Conv2d(3, width, patch_size, patch_size, bias=patch_bias)
        scale = width ** -0.5
        self.class_embedding = nn.Parameter(scale * torch.randn(width)) if class_token else None
        n_pos = self.grid[0] * self.grid[1] + int(class_token)
        self.positional_embedding = nn.Parameter(scale * torch.randn(n_pos, width))
        self.ln_pre = nn.LayerNorm(width, eps=ln_eps) if pre_norm else nn.Identity()
        self.blocks = nn.ModuleList(
            Block(width, num_heads, mlp_ratio, ln_eps) for _ in range(depth))
        self.ln_post = nn.LayerNorm(width, eps=ln_eps)
        self.proj = nn.Parameter(scale * torch.randn(width, embed_dim))
        cpe = dict(cpe or {})
        self.cpe_full_size = _pair(cpe.get('full_size', 1024))
        self.cpe_scale = tuple(cpe.get('scale', (0.1, 1.0)))
        self.cpe_ratio = tuple(cpe.get('ratio', (0.5, 2.0)))
        self.use_cpe = use_cpe
        self.cpe_generator: torch.Generator | None = None
        self.with_cp = with_cp

    @property
    def num_prefix_tokens(self) -> int:
        return int(self.class_embedding is not None)

    @property
    def cpe_grid(self) -> tuple[int, int]:
        """Grid of the upsampled embedding that CPE crops from (the detection grid)."""
        return (self.cpe_full_size[0] // self.patch_size, self.cpe_full_size[1] // self.patch_size)

    def grid_pos_embed(self, grid: tuple[int, int] | None = None) -> Tensor:
        """The learned grid embedding resampled to ``grid``: [H*W, C] (no CLS entry)."""
        pos = self.positional_embedding[self.num_prefix_tokens:]
        return resample_grid(pos, self.grid, grid or self.grid)

    def patch_embed(self, images: Tensor) -> tuple[Tensor, tuple[int, int]]:
        """``images`` [B, 3, H, W] -> tokens [B, H/p * W/p, C] and their grid (H/p, W/p)."""
        x = self.conv1(images)
        grid = (x.shape[-2], x.shape[-1])
        return x.flatten(2).transpose(1, 2), grid

    def add_pos_embed(self, x: Tensor, grid: tuple[int, int]) -> Tensor:
        """Add the positional embedding (cropped if CPE is active) and the CLS token if any."""
        if self.use_cpe and self.training:
            boxes = sample_crop_boxes(x.shape[0], self.cpe_scale, self.cpe_ratio,
                                      self.cpe_generator).to(x.device)
            pos = self.positional_embedding[self.num_prefix_tokens:]
            x = x + cropped_pos_embed(pos, self.grid, self.cpe_grid, boxes).to(x.dtype)
        else:
            x = x + self.grid_pos_embed(grid).to(x.dtype)
        if self.class_embedding is not None:
            cls = (self.class_embedding + self.positional_embedding[0]).to(x.dtype)
            x = torch.cat([cls.expand(x.shape[0], 1, -1), x], dim=1)
        return x

    def forward_tokens(self, images: Tensor) -> Tensor:
        """``images`` [B, 3, H, W] -> block output tokens [B, N, C] (CLS first if any)."""
        x, grid = self.patch_embed(images)
        return self.run_blocks(self.ln_pre(self.add_pos_embed(x, grid)))

    def run_blocks(self, x: Tensor) -> Tensor:
        """Tokens [B, N, C] through every block (checkpointed with ``with_cp`` in training)."""
        for blk in self.blocks:
            x = checkpointed(blk, x, enabled=self.with_cp and self.training)
        return x

    def pool(self, tokens: Tensor) -> Tensor:
        """Mean over all tokens, ``ln_post``, projection: [B, N, C] -> [B, embed_dim]."""
        return self.ln_post(tokens.mean(dim=1)) @ self.proj

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """Returns (pooled image feature [B, embed_dim], tokens [B, N, C])."""
        tokens = self.forward_tokens(images)
        return self.pool(tokens), tokens
