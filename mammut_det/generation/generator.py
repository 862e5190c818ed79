"""MaMMUTGenerator: fine-tuning and evaluation of MaMMUT's generative pass, for every generative
task (image and video captioning, VQA, VideoQA)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from mmengine.registry import MODELS
from mmengine.structures import BaseDataElement
from torch import Tensor

from ..models.mammut import MaMMUT
from .prompts import format_prompt, prompt_fields, prompted_row, target_mask
from .search import GenerationConfig, generate_text


@MODELS.register_module()
class MaMMUTGenerator(MaMMUT):
    """A :class:`MaMMUT` (same weights and keys, so ``load_from`` takes a pretraining or a
    converted openMaMMUT checkpoint) trained and evaluated through the generative pass only:
    causal, cross-attention to the image tokens, or to a clip's tokens when ``vision`` is a
    :class:`~mammut_det.video.MaMMUTTubeViT` (frames at a sparse stride plus tubes, through the
    shared blocks once per clip).

    Each sample's text is ``<start> prompt target <end>`` (:mod:`mammut_det.generation.prompts`):
    ``prompt`` is a template filled from the sample's fields (``'{question}'`` for VQA, ``''`` or
    ``'a photo of'`` for captioning), ``target_key`` names the field generated (``'caption'``,
    ``'answer'``). The :class:`~mammut_det.generation.TokenizePrompted` transform makes the ids
    in the data workers (``text_tokens`` and ``prompt_length``); without them they are made here
    from the strings.

    ``loss`` is the caption loss over the target's ids and the end token only (the prompt is
    teacher-forced), averaged over those tokens of the global batch (``MaMMUT._caption_loss``).
    ``predict`` decodes after ``<start> prompt`` as ``generation`` says and sets ``pred_key``
    (``'pred_caption'``, ``'pred_answer'``) on each sample, the string the task metrics read.
    ``forward`` dispatches as :class:`MaMMUT`'s (``'tensor'`` gives its image embeddings).

    Args:
        prompt: the prompt template (``str.format`` names of sample fields).
        target_key: the sample field the model learns to generate.
        pred_key: the sample field predictions are written to.
        max_prompt_tokens: ids of the prompt kept (``None``: half the context length).
        generation: :class:`~mammut_det.generation.GenerationConfig` fields (``num_beams``,
            ``max_new_tokens``, ``min_new_tokens``, ``length_penalty``, ``repetition_penalty``).
        **kwargs: :class:`MaMMUT` arguments.
    """

    def __init__(self, prompt: str = '', target_key: str = 'caption',
                 pred_key: str = 'pred_caption', max_prompt_tokens: int | None = None,
                 generation: dict | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.prompt = prompt
        self.target_key = target_key
        self.pred_key = pred_key
        self.max_prompt_tokens = max_prompt_tokens
        self.generation = GenerationConfig(**(generation or {}))

    # -- inputs -----------------------------------------------------------------------------
    def visual_tokens(self, inputs: Tensor) -> Tensor:
        """The image encoder's output tokens [B, S, vision width] for images [B, 3, H, W] or
        clips [B, 3, T, H, W] (or [B, V, 3, T, H, W], V views of a clip, whose tokens are put
        side by side: the decoder attends to all of them); ``image_kv`` maps them to the
        decoder's cross-attention inputs."""
        if inputs.dim() == 6:
            b, views = inputs.shape[:2]
            tokens = self.visual_tokens(inputs.flatten(0, 1))
            return tokens.view(b, views * tokens.shape[1], -1)
        if inputs.dim() == 5:
            return self.visual.clip_tokens(inputs)
        return self.visual.forward_tokens(inputs)

    def sample_rows(self, data_samples: Sequence[BaseDataElement],
                    with_target: bool) -> tuple[list[list[int]], list[int]]:
        """Each sample's ids (``<start> prompt target <end>``, or the prefix ``<start> prompt``
        when not ``with_target``) and prompt length."""
        rows, lengths = [], []
        for s in data_samples:
            if 'text_tokens' in s and 'prompt_length' in s:
                row, n = [int(i) for i in s.text_tokens], int(s.prompt_length)
            else:
                where = f'sample {s.get("question_id", s.get("img_id", s.get("video_id")))}'
                target = s.get(self.target_key) if with_target else None
                if with_target and not isinstance(target, str):
                    raise KeyError(f'{where}: no {self.target_key!r} string to train on')
                fields = {k: s.get(k) for k in prompt_fields(self.prompt) if k in s}
                row, n = prompted_row(self.tokenizer, format_prompt(self.prompt, fields, where),
                                      target, self.max_prompt_tokens)
            rows.append(row if with_target else row[:n])
            lengths.append(n)
        return rows, lengths

    # -- training ---------------------------------------------------------------------------
    def loss(self, inputs: Tensor, data_samples: list[BaseDataElement]) -> dict[str, Tensor]:
        """``loss_caption``: the mean cross-entropy over the target tokens of the global batch.

        The parameters this pass never uses (the contrastive head, and the tube kernels of a
        frames-only video encoder) get a zero gradient, so DDP runs."""
        rows, lengths = self.sample_rows(data_samples, with_target=True)
        tokens = self.pad_ids(rows)
        mask = target_mask(tokens, torch.as_tensor(lengths, device=tokens.device),
                           self.tokenizer.eot_id)
        loss = self._caption_loss(self.visual_tokens(inputs), self.prepare_text(tokens, mask))
        unused = self._pass_only_parameters('contrastive')
        if not getattr(self.visual, 'use_tubes', True):
            params = dict(self.visual.named_parameters())
            unused += [params[k] for k in self.visual.video_only_keys]
        return dict(loss_caption=loss + 0.0 * sum(p.sum() for p in unused))

    # -- inference --------------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, inputs: Tensor,
                data_samples: list[BaseDataElement] | None = None) -> list[BaseDataElement]:
        """Generate after each sample's prompt; sets ``pred_key`` (a string) on each sample."""
        if data_samples is None:
            data_samples = [BaseDataElement() for _ in range(inputs.shape[0])]
        rows, _ = self.sample_rows(data_samples, with_target=False)
        texts = generate_text(self.text, self.tokenizer,
                              self.image_kv(self.visual_tokens(inputs)), rows, self.generation)
        for sample, text in zip(data_samples, texts):
            sample.set_field(text, self.pred_key)
        return data_samples
