"""The MaMMUT image encoder as an MMDetection backbone (ViTDet-style window attention)."""
from __future__ import annotations

import os
from collections.abc import Sequence

import torch
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmengine.registry import MODELS
from torch import Tensor

from ..engine.checkpoint import CheckpointReport, load_image_state_dict
from ..models.layers import Block
from ..models.vit import MaMMUTViT


def window_partition(x: Tensor, window: int) -> tuple[Tensor, tuple[int, int]]:
    """``x`` [B, H, W, C] -> windows [B * nH * nW, window * window, C] (zero-padded bottom/right)
    and the padded size (Hp, Wp)."""
    b, h, w, c = x.shape
    pad_h, pad_w = (-h) % window, (-w) % window
    if pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    hp, wp = h + pad_h, w + pad_w
    x = x.view(b, hp // window, window, wp // window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window * window, c), (hp, wp)


def window_unpartition(windows: Tensor, window: int, padded: tuple[int, int],
                       size: tuple[int, int]) -> Tensor:
    """Inverse of :func:`window_partition`: -> [B, H, W, C] with the padding cut off."""
    hp, wp = padded
    c = windows.shape[-1]
    b = windows.shape[0] // ((hp // window) * (wp // window))
    x = windows.view(b, hp // window, wp // window, window, window, c)
    x = x.permute(0, 1, 3, 2, 4, 5).reshape(b, hp, wp, c)
    return x[:, :size[0], :size[1]]


def window_key_mask(size: tuple[int, int], window: int, batch: int,
                    device: torch.device) -> Tensor | None:
    """Attention mask [B * nW, 1, 1, window * window], True on real (unpadded) tokens; None when
    the grid needs no padding. Every window holds at least one real token."""
    h, w = size
    if h % window == 0 and w % window == 0:
        return None
    real = torch.ones(1, h, w, 1, dtype=torch.bool, device=device)
    mask, _ = window_partition(real, window)
    return mask[..., 0].repeat(batch, 1)[:, None, None, :]


@MODELS.register_module()
class MaMMUTViTBackbone(MaMMUTViT):
    """MaMMUT's ViT as a detection backbone: one map [B, C, H/p, W/p] from the last block.

    Parameters keep :class:`MaMMUTViT`'s names, so a MaMMUT checkpoint's ``visual.*`` keys load
    (``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='visual.')``; a missing,
    unexpected or mis-shaped key is an error naming them all, unless ``strict=False`` is added).
    The learned positional embedding (pretraining grid ``img_size / patch_size``) is resampled
    bilinearly to the input's grid, the full upsampled embedding that CPE cropped from during
    pretraining. Blocks not in ``global_attn_indexes``
    attend within non-overlapping ``window_size`` x ``window_size`` windows (grid zero-padded to a
    multiple, padded tokens masked out of attention). A CLS token (``class_token=True``, as in
    openMaMMUT) is kept out of the spatial map: it is not used, its parameter is frozen and only
    loaded. ``ln_post`` and ``proj`` serve the test-time VLM score (:meth:`embed_regions`) and are
    frozen.

    Args:
        window_size: window side in tokens; 0 makes every block global.
        global_attn_indexes: blocks with global attention; default the last of each quarter
            (2, 5, 8, 11 for 12 blocks) as ViTDet.
        frozen_stages: -1 trains everything; 0 freezes the patch and positional embeddings and
            ``ln_pre``; k >= 1 also freezes blocks ``0 .. k-1``.
        with_cp: gradient checkpointing of each block in training.
        **kwargs: :class:`MaMMUTViT` arguments (``img_size`` is the pretraining resolution).
    """

    def __init__(self, window_size: int = 14, global_attn_indexes: Sequence[int] | None = None,
                 frozen_stages: int = -1, with_cp: bool = False, **kwargs) -> None:
        kwargs.setdefault('use_cpe', False)
        super().__init__(**kwargs)
        depth = len(self.blocks)
        if global_attn_indexes is None:
            global_attn_indexes = {max(0, (i + 1) * depth // 4 - 1) for i in range(4)}
        bad = [i for i in global_attn_indexes if not 0 <= i < depth]
        if bad:
            raise ValueError(f'global_attn_indexes {bad} outside the {depth} blocks')
        if not -1 <= frozen_stages <= depth:
            raise ValueError(f'frozen_stages must be in [-1, {depth}], got {frozen_stages}')
        if window_size < 0:
            raise ValueError(f'window_size must be >= 0, got {window_size}')
        self.window_size = window_size
        self.global_attn_indexes = tuple(sorted(set(global_attn_indexes)))
        self.frozen_stages = frozen_stages
        self.with_cp = with_cp
        self.out_channels = self.width
        for p in (self.class_embedding, self.proj):
            if p is not None:
                p.requires_grad_(False)
        self.ln_post.requires_grad_(False)
        self._freeze_stages()

    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        for m in (self.conv1, self.ln_pre):
            m.requires_grad_(False)
        self.positional_embedding.requires_grad_(False)
        for blk in self.blocks[:self.frozen_stages]:
            blk.requires_grad_(False)

    def uses_window(self, index: int) -> bool:
        return self.window_size > 0 and index not in self.global_attn_indexes

    # -- forward ----------------------------------------------------------------------------
    def _run_block(self, blk: Block, x: Tensor, grid: tuple[int, int], windowed: bool) -> Tensor:
        """``x`` [B, N, C] through ``blk``; when ``windowed``, only the attention runs on the
        (padded) windows, as ViTDet, so the MLP never computes padding."""
        if not windowed:
            return blk(x)
        b, _, c = x.shape
        ws = self.window_size
        windows, padded = window_partition(blk.ln_1(x).view(b, grid[0], grid[1], c), ws)
        attn = blk.attn(windows, attn_mask=window_key_mask(grid, ws, b, x.device))
        x = x + window_unpartition(attn, ws, padded, grid).reshape(b, -1, c)
        return x + blk.mlp(blk.ln_2(x))

    def forward(self, images: Tensor) -> tuple[Tensor]:
        """``images`` [B, 3, H, W] -> (block output map [B, C, H/p, W/p],)."""
        x, grid = self.patch_embed(images)
        x = self.ln_pre(x + self.grid_pos_embed(grid).to(x.dtype))
        for i, blk in enumerate(self.blocks):
            windowed = self.uses_window(i)
            if self.with_cp and self.training and x.requires_grad:
                x = cp.checkpoint(self._run_block, blk, x, grid, windowed, use_reentrant=False)
            else:
                x = self._run_block(blk, x, grid, windowed)
        b, _, c = x.shape
        return (x.transpose(1, 2).reshape(b, c, grid[0], grid[1]),)

    def embed_regions(self, pooled: Tensor) -> Tensor:
        """Region features pooled from the map [N, C] -> image-text space [N, embed_dim], as in
        pretraining (``ln_post`` then ``@ proj``), unnormalised."""
        return self.ln_post(pooled) @ self.proj

    # -- weights ----------------------------------------------------------------------------
    def init_weights(self) -> None:
        """``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='visual.', strict=True)``
        loads through :meth:`load_pretrained`; any other ``init_cfg`` goes to MMEngine."""
        cfg = self.init_cfg
        if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
            self.load_pretrained(cfg['checkpoint'], cfg.get('prefix', 'visual.'),
                                 strict=cfg.get('strict', True))
            self._is_init = True
            return
        super().init_weights()

    def load_pretrained(self, checkpoint: str, prefix: str = 'visual.',
                        strict: bool = True) -> CheckpointReport:
        """Load the image tower from a MaMMUT checkpoint's ``prefix`` keys.

        A positional embedding on another grid is resampled (its CLS entry, if any, kept). A
        missing, unexpected or mis-shaped key raises
        :class:`~mammut_det.engine.checkpoint.CheckpointKeyError` naming them all; with
        ``strict=False`` the tensors that fit are loaded and the others logged as a warning.
        Returns the report (also logged)."""
        if not os.path.isfile(checkpoint):
            raise FileNotFoundError(f'{type(self).__name__}: checkpoint {checkpoint!r} does not '
                                    'exist')
        owner = type(self).__name__
        report = load_image_state_dict(self, checkpoint, prefix, owner=owner, strict=strict)
        report.log(owner)
        return report
