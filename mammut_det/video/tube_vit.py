"""MaMMUTTubeViT: the MaMMUT image encoder run once over a whole clip of frame and tube tokens."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from mmengine.registry import MODELS
from torch import Tensor, nn

from ..models.vit import MaMMUTViT
from .checkpoint import ImageCheckpointReport, load_image_state_dict
from .tubes import DEFAULT_TUBES, TubeSpec, scale_tubes, sincos_pos_embed_3d


def _as_tube(spec: TubeSpec | dict | Sequence) -> TubeSpec:
    if isinstance(spec, TubeSpec):
        return spec
    if isinstance(spec, dict):
        return TubeSpec(**spec)
    return TubeSpec(*spec)


@MODELS.register_module()
class MaMMUTTubeViT(MaMMUTViT):
    """Video backbone: :class:`MaMMUTViT` (same parameter names) plus sparse tubes (TubeViT).

    Input ``[B, 3, T, H, W]``; output the pooled clip feature ``ln_post(mean tokens) @ proj``,
    ``[B, embed_dim]``, as in pretraining, so linear and text-embedding heads both apply.

    Tokens, concatenated and run through the shared blocks once:

    * frame tokens: for each frame ``frame_offset, frame_offset + frame_stride, ...``, the image
      model's own tokens (CLS if ``class_token``, then patches with the learned embedding);
    * tube tokens: one ``Conv3d`` per :class:`~mammut_det.video.tubes.TubeSpec`, each token with
      the learned embedding resampled at its spatial centre.

    Every token also gets ``pos_gate * sincos3d(t, y, x)`` at its centre (frames in frame units,
    y and x in patch units; CLS tokens get none). ``pos_gate`` is a learnable scalar initialised to
    0, so the positional code starts as the image model's. Without tubes, a clip of one repeated
    frame then gives exactly the image model's output (each token set is repeated uniformly, and
    attention and the mean are unchanged by uniform repetition).

    Args:
        clip_len: frames per clip the tubes are laid out for.
        tubes: tube specs (dicts with ``kernel``, ``stride``, ``offset``), absolute for this clip;
            ``None`` derives TubeViT's 32-frame/patch-16 tubes with
            :func:`~mammut_det.video.tubes.scale_tubes`; ``()`` for frame tokens only.
        frame_stride: temporal stride of frame tokens (default ``clip_len // 2``).
        frame_offset: first frame with tokens (default ``frame_stride // 2``).
        use_tubes: False for the ablation: each of those frames is encoded alone by the image
            model and the pooled features are averaged (no tubes, no joint attention).
        pretrained: a MaMMUT pretraining or image checkpoint, loaded when the module is built (so
            that a test run, which never calls ``init_weights``, has the weights too).
        pretrained_prefix: key prefix of the image encoder in it (``'visual.'`` for MaMMUT).
        inflate_tubes: initialise tube kernels from the loaded patch kernel (resized, spread over
            time) rather than keeping their random initialisation.
        **vit_kwargs: :class:`MaMMUTViT` arguments (``img_size``, ``patch_size``, ``width``,
            ``with_cp`` ...).
    """

    def __init__(self, clip_len: int = 32, tubes: Sequence | None = None,
                 frame_stride: int | None = None, frame_offset: int | None = None,
                 use_tubes: bool = True, pretrained: str | None = None,
                 pretrained_prefix: str = 'visual.', inflate_tubes: bool = True,
                 **vit_kwargs) -> None:
        if vit_kwargs.get('use_cpe'):
            raise ValueError('MaMMUTTubeViT does not use the cropped positional embedding; '
                             'set use_cpe=False')
        super().__init__(**vit_kwargs)
        self.clip_len = clip_len
        self.frame_stride = frame_stride or max(1, clip_len // 2)
        self.frame_offset = self.frame_stride // 2 if frame_offset is None else frame_offset
        if not 0 <= self.frame_offset < clip_len:
            raise ValueError(f'frame_offset {self.frame_offset} is outside a {clip_len}-frame clip')
        specs = (scale_tubes(DEFAULT_TUBES, clip_len, self.patch_size) if tubes is None
                 else tuple(_as_tube(t) for t in tubes))
        self.tubes = specs
        self.use_tubes = use_tubes
        clip = (clip_len, self.grid[0] * self.patch_size, self.grid[1] * self.patch_size)
        for spec in specs:
            spec.grid(clip)
        bias = self.conv1.bias is not None
        self.tube_convs = nn.ModuleList(
            nn.Conv3d(3, self.width, spec.kernel, spec.stride, bias=bias) for spec in specs)
        self.pos_gate = nn.Parameter(torch.zeros(()))
        if pretrained:
            self.load_image_checkpoint(pretrained, pretrained_prefix, inflate_tubes=inflate_tubes)

    # -- geometry ---------------------------------------------------------------------------
    def frame_indices(self, num_frames: int) -> list[int]:
        """Frames that contribute frame tokens in a clip of ``num_frames``."""
        return list(range(min(self.frame_offset, num_frames - 1), num_frames, self.frame_stride))

    def num_tokens(self, clip: tuple[int, int, int]) -> dict[str, int]:
        """Token count per source for a clip (T, H, W): ``frames``, ``tube<i>`` and ``total``."""
        t, h, w = clip
        per_frame = (h // self.patch_size) * (w // self.patch_size) + self.num_prefix_tokens
        counts = {'frames': len(self.frame_indices(t)) * per_frame}
        if self.use_tubes:
            counts.update({f'tube{i}': spec.num_tokens(clip) for i, spec in enumerate(self.tubes)})
        counts['total'] = sum(counts.values())
        return counts

    def _sample_learned(self, grid: tuple[int, int], yx: Tensor) -> Tensor:
        """The learned embedding on the patch ``grid`` sampled bilinearly at ``yx`` [N, 2]
        (patch units, patch i's centre at i) -> [N, C]."""
        pos = self.grid_pos_embed(grid)
        h, w = grid
        pos = pos.reshape(1, h, w, -1).permute(0, 3, 1, 2)
        norm = torch.stack([(yx[:, 1] + 0.5) / w, (yx[:, 0] + 0.5) / h], dim=-1) * 2 - 1
        out = F.grid_sample(pos.float(), norm.view(1, 1, -1, 2).to(pos.device), mode='bilinear',
                            padding_mode='border', align_corners=False)
        return out[0, :, 0].t().to(pos.dtype)

    def _gated_sincos(self, coords: Tensor) -> Tensor:
        return self.pos_gate * sincos_pos_embed_3d(coords.to(self.pos_gate.device), self.width)

    # -- tokens -----------------------------------------------------------------------------
    def _frame_tokens(self, video: Tensor) -> Tensor:
        """Frame tokens of ``video`` [B, 3, T, H, W] -> [B, F * (prefix + h * w), C]."""
        b = video.shape[0]
        idx = self.frame_indices(video.shape[2])
        frames = video[:, :, idx].transpose(1, 2).flatten(0, 1)
        x, grid = self.patch_embed(frames)
        x = x + self.grid_pos_embed(grid).to(x.dtype)
        ys, xs = torch.meshgrid(torch.arange(grid[0]), torch.arange(grid[1]), indexing='ij')
        yx = torch.stack([ys, xs], dim=-1).reshape(-1, 2).float()
        ts = torch.tensor(idx, dtype=torch.float32).repeat_interleave(yx.shape[0])[:, None]
        coords = torch.cat([ts, yx.repeat(len(idx), 1)], dim=1)
        sincos = self._gated_sincos(coords).view(len(idx), -1, self.width).repeat(b, 1, 1)
        x = x + sincos.to(x.dtype)
        if self.class_embedding is not None:
            cls = (self.class_embedding + self.positional_embedding[0]).to(x.dtype)
            x = torch.cat([cls.expand(x.shape[0], 1, -1), x], dim=1)
        return x.reshape(b, -1, self.width)

    def _tube_tokens(self, video: Tensor) -> Tensor:
        """Tube tokens of ``video`` [B, 3, T, H, W] -> [B, sum of tube counts, C]."""
        grid = (video.shape[3] // self.patch_size, video.shape[4] // self.patch_size)
        clip = tuple(video.shape[2:])
        tokens, coords = [], []
        for spec, conv in zip(self.tubes, self.tube_convs):
            ot, oy, ox = spec.offset
            tokens.append(conv(video[:, :, ot:, oy:, ox:]).flatten(2).transpose(1, 2))
            coords.append(spec.centres(clip) - 0.5)
        if not tokens:
            return video.new_zeros(video.shape[0], 0, self.width)
        x = torch.cat(tokens, dim=1)
        coords = torch.cat(coords)
        coords[:, 1:] = (coords[:, 1:] + 0.5) / self.patch_size - 0.5
        pos = self._sample_learned(grid, coords[:, 1:]) + self._gated_sincos(coords)
        return x + pos.to(x.dtype)

    def forward_tokens(self, video: Tensor) -> Tensor:
        """``video`` [B, 3, T, H, W] -> block outputs of frame then tube tokens [B, N, C]."""
        x = torch.cat([self._frame_tokens(video), self._tube_tokens(video)], dim=1)
        return self.run_blocks(self.ln_pre(x))

    def clip_tokens(self, video: Tensor) -> Tensor:
        """Tokens a decoder cross-attends to, [B, N, C]: :meth:`forward_tokens` (frame and tube
        tokens through the blocks together); without tubes (``use_tubes=False``), each frame's
        own image-model tokens side by side, with nothing that tells the frames' order."""
        if self.use_tubes:
            return self.forward_tokens(video)
        tokens = super().forward_tokens(self._frames(video))
        return tokens.reshape(video.shape[0], -1, self.width)

    def _frames(self, video: Tensor, frame_indices: Sequence[int] | None = None) -> Tensor:
        """The frames ``frame_indices`` (default :meth:`frame_indices`) of ``video`` as images
        [B * F, 3, H, W], clip-major."""
        idx = (list(frame_indices) if frame_indices is not None
               else self.frame_indices(video.shape[2]))
        return video[:, :, idx].transpose(1, 2).flatten(0, 1)

    def forward_frames(self, video: Tensor, frame_indices: Sequence[int] | None = None) -> Tensor:
        """Image model frame by frame, features averaged: [B, 3, T, H, W] -> [B, embed_dim].

        ``frame_indices`` default to :meth:`frame_indices`."""
        feats = super().pool(super().forward_tokens(self._frames(video, frame_indices)))
        return feats.view(video.shape[0], -1, feats.shape[-1]).mean(dim=1)

    def forward(self, video: Tensor) -> Tensor:
        """``video`` [B, 3, T, H, W] -> pooled clip feature [B, embed_dim]."""
        if video.dim() != 5:
            raise ValueError(f'MaMMUTTubeViT expects [B, 3, T, H, W], got {tuple(video.shape)}')
        if not self.use_tubes:
            return self.forward_frames(video)
        return self.pool(self.forward_tokens(video))

    # -- weights ----------------------------------------------------------------------------
    @property
    def video_only_keys(self) -> list[str]:
        """State-dict keys an image checkpoint cannot have: the tube kernels and the gate."""
        return [k for k in self.state_dict() if k.startswith('tube_convs.') or k == 'pos_gate']

    @torch.no_grad()
    def inflate_tube_kernels(self) -> None:
        """Set every tube kernel to the patch kernel resized to the tube's spatial size (scaled to
        keep the response to a flat input) and spread evenly over its frames; copy the bias."""
        w = self.conv1.weight
        for conv in self.tube_convs:
            kt, kh, kw = conv.kernel_size
            w2 = F.interpolate(w.float(), size=(kh, kw), mode='bilinear', antialias=True,
                               align_corners=False) * (w.shape[-2] * w.shape[-1]) / (kh * kw)
            conv.weight.copy_((w2[:, :, None] / kt).expand(-1, -1, kt, -1, -1).to(w.dtype))
            if conv.bias is not None:
                conv.bias.copy_(self.conv1.bias)

    def load_image_checkpoint(self, checkpoint: str | dict, prefix: str = 'visual.',
                              strict: bool = True,
                              inflate_tubes: bool = True) -> ImageCheckpointReport:
        """Load an image encoder's weights (``prefix`` keys of a MaMMUT/image checkpoint or state
        dict) and log which keys were new (tubes, gate) or resized. ``strict``: a missing,
        unexpected or mis-shaped key is an error naming them all (else they are reported).
        Returns the report."""
        report = load_image_state_dict(self, checkpoint, prefix, self.video_only_keys, strict)
        if inflate_tubes and self.tube_convs:
            self.inflate_tube_kernels()
            report.inflated = True
        report.log(type(self).__name__)
        return report
