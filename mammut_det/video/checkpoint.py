"""Loading an image encoder checkpoint into a video backbone, with a report of what changed."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..engine.checkpoint import CheckpointReport
from ..engine.checkpoint import load_image_state_dict as load_image_tower
from ..models.vit import MaMMUTViT


@dataclass
class ImageCheckpointReport(CheckpointReport):
    """What :func:`load_image_state_dict` did: a :class:`CheckpointReport` whose ``new`` keys
    are the video-only ones (tube kernels, gate), and whether the tube kernels were set from the
    patch kernel afterwards (``inflated``)."""

    inflated: bool = False

    def __str__(self) -> str:
        text = super().__str__()
        return text + ('\ntube kernels inflated from the patch kernel' if self.inflated else '')


def load_image_state_dict(model: MaMMUTViT, checkpoint: str | dict, prefix: str,
                          video_only: Sequence[str], strict: bool = True
                          ) -> ImageCheckpointReport:
    """Copy ``prefix``-ed tensors of ``checkpoint`` (a path or a state dict, optionally under
    ``state_dict``/``model``) into ``model``.

    ``positional_embedding`` of another square grid is resampled. Raises ``KeyError`` if no key
    has the prefix and (``strict``) :class:`~mammut_det.engine.checkpoint.CheckpointKeyError`
    naming every model key outside ``video_only`` that is missing, every unexpected key and every
    shape mismatch (with both shapes).
    """
    report = load_image_tower(model, checkpoint, prefix, owner=type(model).__name__,
                              new=video_only, strict=strict)
    return ImageCheckpointReport(**vars(report))
