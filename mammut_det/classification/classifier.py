"""Zero-shot image classification with a MaMMUT checkpoint: images scored against class prompts."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from mmengine.registry import MODELS
from mmengine.structures import BaseDataElement
from torch import Tensor

from ..detection.class_embedder import embed_class_names
from ..detection.vocabulary import DEFAULT_TEMPLATES, check_templates, load_vocabulary
from ..models.mammut import MaMMUT


@MODELS.register_module()
class MaMMUTZeroShotClassifier(MaMMUT):
    """A :class:`MaMMUT` that classifies images among ``classes`` with no training.

    It has MaMMUT's weights and keys, so a pretraining checkpoint or a converted openMaMMUT one
    loads through ``load_from`` unchanged. Class embeddings [K, D] come from the decoder's
    contrastive pass over ``templates`` (see
    :func:`mammut_det.detection.class_embedder.embed_class_names`) and are kept until the weights
    or the classes change. ``predict`` sets on each sample ``pred_score`` [K] (softmax of the
    temperature-scaled cosine similarities) and ``pred_label`` [1]; with the ``gt_label`` [1]
    that :class:`mammut_det.datasets.PackCaptionInputs` packs, these are the fields MMAction2's
    ``AccMetric`` reads.

    Args:
        classes: class names in label order (sequence, text file or comma-separated string).
        templates: prompts with one ``{}`` each (default
            :data:`mammut_det.detection.vocabulary.DEFAULT_TEMPLATES`), or a text file with one a
            line.
        text_batch_size: prompts per text pass.
        **kwargs: :class:`MaMMUT` arguments.
    """

    def __init__(self, classes: str | Sequence[str], templates: str | Sequence[str] | None = None,
                 text_batch_size: int = 256, **kwargs) -> None:
        super().__init__(**kwargs)
        if text_batch_size < 1:
            raise ValueError(f'text_batch_size must be >= 1, got {text_batch_size}')
        self.templates = load_templates(templates)
        self.text_batch_size = text_batch_size
        self._class_emb: Tensor | None = None
        self.set_classes(classes)

    def set_classes(self, classes: str | Sequence[str]) -> None:
        """Change the vocabulary; its embeddings are computed at the next ``predict``."""
        self.classes = load_vocabulary(classes)
        self._class_emb = None

    def class_embeddings(self) -> Tensor:
        """[K, D] L2-normalised embeddings of :attr:`classes`, computed once per weights."""
        if self._class_emb is None:
            self._class_emb = embed_class_names(self.text, self.tokenizer, self.classes,
                                                self.templates, self.text_batch_size)
        return self._class_emb

    def train(self, mode: bool = True) -> MaMMUTZeroShotClassifier:
        if mode:
            self._class_emb = None  # training changes the decoder
        return super().train(mode)

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        self._class_emb = None
        super()._load_from_state_dict(*args, **kwargs)

    @torch.no_grad()
    def predict(self, inputs: Tensor,
                data_samples: list[BaseDataElement] | None = None) -> list[BaseDataElement]:
        """Images [B, 3, H, W] (preprocessed) -> the samples with ``pred_score`` and
        ``pred_label`` set."""
        if data_samples is None:
            data_samples = [BaseDataElement() for _ in range(inputs.shape[0])]
        logits = self.contrastive_logits(self.encode_image(inputs), self.class_embeddings())
        scores = logits.float().softmax(dim=-1).cpu()
        for sample, score in zip(data_samples, scores):
            sample.pred_score = score
            sample.pred_label = score.argmax().view(1)
        return data_samples


def load_templates(spec: str | Sequence[str] | None) -> tuple[str, ...]:
    """Templates from a sequence, a text file (one a line) or ``None`` (the defaults)."""
    if spec is None:
        return DEFAULT_TEMPLATES
    if isinstance(spec, str):
        try:
            with open(spec, encoding='utf-8') as f:
                lines = [line.rstrip('\n') for line in f if line.strip()]
        except FileNotFoundError:
            raise FileNotFoundError(f'templates file {spec!r} does not exist') from None
        return check_templates(lines)
    return check_templates(spec)
