"""MaMMUT: one image encoder, one text decoder, two passes (contrastive and generative)."""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.registry import MODELS
from mmengine.structures import BaseDataElement
from torch import Tensor, nn

from ..registry import TOKENIZERS
from .distributed import all_reduce_sum, gather_with_grad, with_value, world_info
from .losses import focal_contrastive_loss, infonce_loss, lm_head_cross_entropy_sum

PASSES = ('contrastive', 'generative')


class TextBatch(NamedTuple):
    """The captions of a batch: ids ``tokens`` [B, L], real positions ``valid`` [B, L] (bool, up
    to and including the end token), and the next-token targets of the generative pass: their
    flat positions ``target_index`` [M] in [B, L-1] and their ids ``targets`` [M]. Made where the
    ids are (the host for strings), then moved, so no device has to look at the ids."""

    tokens: Tensor
    valid: Tensor
    target_index: Tensor
    targets: Tensor

    def to(self, device: torch.device) -> TextBatch:
        return TextBatch(*(t.to(device) for t in self))


@MODELS.register_module()
class MaMMUT(BaseModel):
    """MaMMUT pretraining model.

    ``loss`` runs the image encoder once, then the decoder's contrastive pass (no image, no causal
    mask) and generative pass (causal, cross-attention to the image tokens), in the order and with
    the weights set by :meth:`set_pass_schedule` (the ``TwoPassScheduleHook`` does it each
    iteration). A pass whose weight is 0 is not run.

    The batch is the global batch. On N processes the contrastive loss is over all N*B pairs:
    features are all-gathered with gradient (open_clip's ``gather_with_grad``) and either the full
    matrix is built on every process or, with ``local_loss``, each process's rows against every
    column (open_clip's ``local_loss``); the caption loss is the mean over the real tokens of the
    global batch. Both are written so that the gradients, after the wrapper averages them over the
    processes, and the logged values equal one process's over the concatenated batch.

    Captions arrive as token ids in the data samples (``text_tokens``, made in the data workers by
    the ``TokenizeCaption`` transform) or as strings (``caption``, tokenised here); each batch is
    padded to its longest caption (to ``context_length`` for ``mean_all`` pooling). Real positions
    are those up to the end token, whatever the pad id.

    ``predict`` gives L2-normalised image and text embeddings and, if
    ``test_cfg.generate_captions``, greedy captions.

    Args:
        vision: config of the image encoder (``MaMMUTViT``).
        text: config of the text decoder (``TextDecoder``).
        tokenizer: config of a tokenizer from ``mammut_det.registry.TOKENIZERS``.
        contrastive_loss: ``'focal'`` (default, RO-ViT sigmoid focal) or ``'infonce'``.
        focal_alpha, focal_gamma: focal loss weights (RO-ViT's defaults 0.5 and 1.0).
        local_loss: on N processes, each builds only its rows of the logit matrix.
        init_temperature: initial temperature; ``logit_scale`` = log(1 / temperature), learnable.
        max_logit_scale: exp(logit_scale) is clamped to [1, max_logit_scale] in place after each
            optimizer step (:meth:`clamp_logit_scale`, called by the hook), as open_clip does.
        lm_head_chunk: rows of vocabulary logits computed at a time by the caption loss.
        test_cfg: ``generate_captions`` (bool), ``max_new_tokens`` (int).
    """

    def __init__(self, vision: dict, text: dict, tokenizer: dict,
                 contrastive_loss: str = 'focal', focal_alpha: float = 0.5,
                 focal_gamma: float = 1.0, local_loss: bool = False,
                 init_temperature: float = 0.07, max_logit_scale: float = 100.0,
                 lm_head_chunk: int = 512, data_preprocessor: dict | None = None,
                 test_cfg: dict | None = None, init_cfg: dict | None = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if contrastive_loss not in ('focal', 'infonce'):
            raise ValueError(f"contrastive_loss must be 'focal' or 'infonce', got "
                             f'{contrastive_loss!r}')
        self.visual = MODELS.build(vision)
        self.text = MODELS.build(text)
        if self.visual.embed_dim != self.text.embed_dim:
            raise ValueError(f'vision embed_dim {self.visual.embed_dim} != text embed_dim '
                             f'{self.text.embed_dim}')
        self.tokenizer = TOKENIZERS.build(tokenizer)
        if self.tokenizer.vocab_size > self.text.vocab_size:
            raise ValueError(f'tokenizer has {self.tokenizer.vocab_size} tokens but the decoder '
                             f'only {self.text.vocab_size}')
        if self.tokenizer.context_length != self.text.context_length:
            raise ValueError(f'tokenizer context_length {self.tokenizer.context_length} != '
                             f'decoder context_length {self.text.context_length}')
        if self.tokenizer.pad_id != self.text.pad_id:
            raise ValueError(f'tokenizer pad id {self.tokenizer.pad_id} != decoder pad_id '
                             f'{self.text.pad_id}')
        self.map_image_tokens = nn.Linear(self.visual.width, self.text.width, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)))
        self.max_logit_scale = max_logit_scale
        self.contrastive_loss = contrastive_loss
        self.focal_alpha = focal_alpha
        self.focal_gamma = focal_gamma
        self.local_loss = local_loss
        self.lm_head_chunk = lm_head_chunk
        self.test_cfg = {'generate_captions': False, 'max_new_tokens': None, **(test_cfg or {})}
        self.pass_order: tuple[str, ...] | None = None
        self.loss_weights: dict[str, float] = {}

    # -- pass schedule --------------------------------------------------------------------
    def set_pass_schedule(self, order: Sequence[str], weights: dict[str, float]) -> None:
        """Set the order of the two passes and their loss weights for the next ``loss`` call."""
        if sorted(order) != sorted(PASSES):
            raise ValueError(f'order must be a permutation of {PASSES}, got {tuple(order)}')
        missing = set(PASSES) - set(weights)
        if missing:
            raise KeyError(f'loss weights miss {sorted(missing)}')
        if not any(weights[k] for k in PASSES):
            raise ValueError(f'at least one pass needs a non-zero weight, got {weights}')
        self.pass_order = tuple(order)
        self.loss_weights = {k: float(weights[k]) for k in PASSES}

    @torch.no_grad()
    def clamp_logit_scale(self) -> None:
        """Clamp ``logit_scale`` in place to [0, log(max_logit_scale)] (open_clip, after each
        optimizer step), so the forward pass uses it as it is and its gradient never vanishes."""
        self.logit_scale.clamp_(0, math.log(self.max_logit_scale))

    # -- encoders ---------------------------------------------------------------------------
    def tokenize(self, texts: str | Sequence[str]) -> Tensor:
        """Strings -> token ids [B, L] on the model's device, padded to the longest text
        (to ``context_length`` for ``mean_all`` pooling)."""
        return self.pad_ids(self.tokenizer.token_ids(texts)).to(self.logit_scale.device)

    def pad_ids(self, rows: Sequence[Sequence[int] | Tensor]) -> Tensor:
        """Id rows -> [B, L] where they are, padded as :meth:`tokenize`."""
        return self.tokenizer.pad(rows, self.text.context_length if self.text.fixed_length
                                  else None)

    def batch_tokens(self, data_samples: Sequence[BaseDataElement]) -> Tensor:
        """The captions of a batch as padded ids [B, L]: the samples' ``text_tokens`` when every
        sample has them (tokenised in the data workers), else their ``caption`` strings."""
        return self.text_batch(data_samples).tokens

    def text_batch(self, data_samples: Sequence[BaseDataElement]) -> TextBatch:
        """The captions of a batch (see :meth:`batch_tokens`) as a :class:`TextBatch` on the
        model's device."""
        if all('text_tokens' in s for s in data_samples):
            rows = [s.text_tokens for s in data_samples]
        else:
            rows = self.tokenizer.token_ids([s.caption for s in data_samples])
        return self.prepare_text(self.pad_ids(rows))

    def prepare_text(self, tokens: Tensor, target_mask: Tensor | None = None) -> TextBatch:
        """Padded ids [B, L], where they were made -> a :class:`TextBatch` on the model's device.
        ``target_mask`` [B, L - 1] picks the next-token targets (over ``tokens[:, 1:]``); by
        default every real one."""
        valid = self.tokenizer.real_mask(tokens)
        if target_mask is None:
            target_mask = valid[:, 1:]
        target_index = target_mask.flatten().nonzero()[:, 0]
        targets = tokens[:, 1:].flatten()[target_index]
        return TextBatch(tokens, valid, target_index, targets).to(self.logit_scale.device)

    def encode_image(self, images: Tensor, normalize: bool = True) -> Tensor:
        """``images`` [B, 3, H, W] (preprocessed) -> image embeddings [B, D]."""
        feat, _ = self.visual(images)
        return F.normalize(feat, dim=-1) if normalize else feat

    def encode_text(self, texts: Tensor | str | Sequence[str], normalize: bool = True,
                    valid: Tensor | None = None) -> Tensor:
        """Token ids [B, L] or strings -> contrastive text embeddings [B, D] (never sees images).
        ``valid``: the real positions of the ids, found from the end token when not given."""
        tokens = texts if isinstance(texts, Tensor) else self.tokenize(texts)
        if valid is None:
            valid = self.tokenizer.real_mask(tokens)
        feat = self.text.encode(tokens, valid)
        return F.normalize(feat, dim=-1) if normalize else feat

    def image_kv(self, image_tokens: Tensor) -> Tensor:
        """Encoder output tokens [B, N, Cv] -> cross-attention inputs [B, N, Ct]."""
        return self.map_image_tokens(image_tokens)

    def contrastive_logits(self, image_emb: Tensor, text_emb: Tensor) -> Tensor:
        """Scaled cosine similarities [B_img, B_txt] of normalised embeddings."""
        return self.logit_scale.exp() * image_emb @ text_emb.t()

    # -- losses -----------------------------------------------------------------------------
    def _contrastive(self, *logits: Tensor, offset: int = 0) -> Tensor:
        if self.contrastive_loss == 'focal':
            return focal_contrastive_loss(*logits, alpha=self.focal_alpha,
                                          gamma=self.focal_gamma, offset=offset)
        return infonce_loss(*logits, offset=offset)

    def _contrastive_loss(self, image_feat: Tensor, text: TextBatch) -> Tensor:
        image_emb = F.normalize(image_feat, dim=-1)
        text_emb = self.encode_text(text.tokens, valid=text.valid)
        rank, world = world_info()
        if world == 1:
            return self._contrastive(self.contrastive_logits(image_emb, text_emb))
        all_image, all_text = gather_with_grad(image_emb), gather_with_grad(text_emb)
        if not self.local_loss:
            # every process builds the same full matrix; all_gather's backward sums the N equal
            # gradients of a process's features and the wrapper's average divides them by N
            return self._contrastive(self.contrastive_logits(all_image, all_text))
        # this process's rows against all columns: the mean over processes of these losses is
        # the full one, as is the wrapper's average of their gradients; log the mean
        local = self._contrastive(self.contrastive_logits(image_emb, all_text),
                                  self.contrastive_logits(text_emb, all_image),
                                  offset=rank * image_emb.shape[0])
        return with_value(local, all_reduce_sum(local) / world)

    def _caption_loss(self, image_tokens: Tensor, text: TextBatch) -> Tensor:
        """Mean next-token cross-entropy over the real target tokens of the global batch. The LM
        head runs on the real target positions only, ``lm_head_chunk`` rows at a time."""
        hidden = self.text.forward_generative(text.tokens[:, :-1], self.image_kv(image_tokens))
        hidden = hidden.flatten(0, 1).index_select(0, text.target_index)
        local_sum = lm_head_cross_entropy_sum(hidden, self.text.lm_head.weight, text.targets,
                                              self.lm_head_chunk)
        _, world = world_info()
        count = torch.tensor(float(text.targets.numel()), device=local_sum.device)
        total = all_reduce_sum(count).clamp(min=1)
        # the wrapper averages gradients over the processes, so each scales its sum by N
        return with_value(local_sum * world / total, all_reduce_sum(local_sum) / total)

    def _pass_only_parameters(self, name: str) -> list[nn.Parameter]:
        """Parameters that only pass ``name`` uses."""
        if name == 'generative':
            modules = [self.map_image_tokens, self.text.cross_attn, self.text.lm_head]
            params = []
        else:
            modules = [self.visual.ln_post, self.text.text_proj]
            params = [self.visual.proj, self.logit_scale]
        return params + [p for m in modules if m is not None for p in m.parameters()]

    def loss(self, inputs: Tensor, data_samples: list[BaseDataElement]) -> dict[str, Tensor]:
        """Both passes over one image-encoder run. Returns ``loss_contrastive``, ``loss_caption``
        (each already weighted; absent when its weight is 0) and ``temperature`` for the log.

        A skipped pass adds 0 times its own parameters to the other loss: they get a zero
        gradient rather than none, so DDP (which expects a gradient for every parameter) runs,
        and one process and N processes update them alike."""
        if self.pass_order is None:
            raise RuntimeError(
                'MaMMUT has no pass schedule: add dict(type="TwoPassScheduleHook") to the '
                'config\'s custom_hooks (or call model.set_pass_schedule before loss()).')
        text = self.text_batch(data_samples)
        image_feat, image_tokens = self.visual(inputs)
        losses: dict[str, Tensor] = {}
        skipped = []
        for name in self.pass_order:
            weight = self.loss_weights[name]
            if weight == 0:
                skipped.append(name)
            elif name == 'contrastive':
                losses['loss_contrastive'] = weight * self._contrastive_loss(image_feat, text)
            else:
                losses['loss_caption'] = weight * self._caption_loss(image_tokens, text)
        for name in skipped:
            key = next(iter(losses))
            losses[key] = losses[key] + 0.0 * sum(
                p.sum() for p in self._pass_only_parameters(name))
        losses['temperature'] = 1.0 / self.logit_scale.detach().exp()
        return losses

    # -- inference --------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, images: Tensor, prompts: Sequence[str] | None = None,
                 **generation) -> list[str]:
        """Captions for ``images`` [B, 3, H, W] (preprocessed), greedy unless ``generation``
        (:class:`~mammut_det.generation.GenerationConfig` fields: ``num_beams``,
        ``max_new_tokens`` (``None``: up to the context length), ...) says otherwise, with the
        key/value cache. ``prompts`` (one per image) are teacher-forced prefixes, not repeated in
        the output."""
        # generation sits above the models (it drives the decoder), hence the late import
        from ..generation import GenerationConfig, generate_text, prompted_row
        _, image_tokens = self.visual(images)
        if generation.get('max_new_tokens') is None:
            generation['max_new_tokens'] = self.text.context_length
        prefixes = [prompted_row(self.tokenizer, p, None)[0]
                    for p in (prompts or [''] * images.shape[0])]
        return generate_text(self.text, self.tokenizer, self.image_kv(image_tokens), prefixes,
                             GenerationConfig(**generation))

    def predict(self, inputs: Tensor,
                data_samples: list[BaseDataElement] | None = None) -> list[BaseDataElement]:
        """Fills ``image_embedding`` [D], ``text_embedding`` (when a caption is given: [D] of
        ``caption``, or [n, D] of the n references ``gt_captions`` of an image of a grouped
        evaluation set, e.g. ``GroupedCaptionDataset``) and ``pred_caption`` (when
        ``test_cfg.generate_captions``) on each data sample."""
        if data_samples is None:
            data_samples = [BaseDataElement() for _ in range(inputs.shape[0])]
        image_emb = self.encode_image(inputs)
        text_emb = None
        if any('gt_captions' in s for s in data_samples):
            # all references of each image (a grouped evaluation set): [n_i, D] each
            groups = [list(s.gt_captions) for s in data_samples]
            flat = self.encode_text([c for g in groups for c in g])
            text_emb = flat.split([len(g) for g in groups])
        elif all('text_tokens' in s or 'caption' in s for s in data_samples):
            text_emb = self.encode_text(self.batch_tokens(data_samples))
        generated = (self.generate(inputs, max_new_tokens=self.test_cfg['max_new_tokens'])
                     if self.test_cfg['generate_captions'] else None)
        for i, sample in enumerate(data_samples):
            sample.image_embedding = image_emb[i]
            if text_emb is not None:
                sample.text_embedding = text_emb[i]
            if generated is not None:
                sample.pred_caption = generated[i]
        return data_samples

    def forward(self, inputs: Tensor, data_samples: list[BaseDataElement] | None = None,
                mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            image_emb = self.encode_image(inputs)
            if data_samples is None:
                return image_emb
            return image_emb, self.encode_text(self.batch_tokens(data_samples))
        raise RuntimeError(f'invalid mode {mode!r}; use loss, predict or tensor')
