"""MaMMUT: one image encoder, one text decoder, two passes (contrastive and generative)."""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.registry import MODELS
from mmengine.structures import BaseDataElement
from torch import Tensor, nn

from ..registry import TOKENIZERS
from .losses import caption_loss, focal_contrastive_loss, infonce_loss

PASSES = ('contrastive', 'generative')


@MODELS.register_module()
class MaMMUT(BaseModel):
    """MaMMUT pretraining model.

    ``loss`` runs the image encoder once, then the decoder's contrastive pass (no image, no causal
    mask) and generative pass (causal, cross-attention to the image tokens), in the order and with
    the weights set by :meth:`set_pass_schedule` (the ``TwoPassScheduleHook`` does it each
    iteration). A pass whose weight is 0 is not run. ``predict`` gives L2-normalised image and text
    embeddings and, if ``test_cfg.generate_captions``, greedy captions.

    Args:
        vision: config of the image encoder (``MaMMUTViT``).
        text: config of the text decoder (``TextDecoder``).
        tokenizer: config of a tokenizer from ``mammut_det.registry.TOKENIZERS``.
        contrastive_loss: ``'focal'`` (default, RO-ViT sigmoid focal) or ``'infonce'``.
        focal_alpha, focal_gamma: focal loss weights.
        init_temperature: initial temperature; ``logit_scale`` = log(1 / temperature), learnable.
        max_logit_scale: clamp of exp(logit_scale).
        test_cfg: ``generate_captions`` (bool), ``max_new_tokens`` (int).
    """

    def __init__(self, vision: dict, text: dict, tokenizer: dict,
                 contrastive_loss: str = 'focal', focal_alpha: float = 0.5,
                 focal_gamma: float = 1.0, init_temperature: float = 0.07,
                 max_logit_scale: float = 100.0, data_preprocessor: dict | None = None,
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
        self.map_image_tokens = nn.Linear(self.visual.width, self.text.width, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)))
        self.max_logit_scale = max_logit_scale
        self.contrastive_loss = contrastive_loss
        self.focal_alpha = focal_alpha
        self.focal_gamma = focal_gamma
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
        self.pass_order = tuple(order)
        self.loss_weights = {k: float(weights[k]) for k in PASSES}

    # -- encoders ---------------------------------------------------------------------------
    def tokenize(self, texts: str | Sequence[str]) -> Tensor:
        """Strings -> token ids [B, context_length] on the model's device."""
        return self.tokenizer(texts).to(self.logit_scale.device)

    def encode_image(self, images: Tensor, normalize: bool = True) -> Tensor:
        """``images`` [B, 3, H, W] (preprocessed) -> image embeddings [B, D]."""
        feat, _ = self.visual(images)
        return F.normalize(feat, dim=-1) if normalize else feat

    def encode_text(self, texts: Tensor | str | Sequence[str], normalize: bool = True) -> Tensor:
        """Token ids [B, L] or strings -> contrastive text embeddings [B, D] (never sees images)."""
        tokens = texts if isinstance(texts, Tensor) else self.tokenize(texts)
        feat = self.text.encode(tokens)
        return F.normalize(feat, dim=-1) if normalize else feat

    def image_kv(self, image_tokens: Tensor) -> Tensor:
        """Encoder output tokens [B, N, Cv] -> cross-attention inputs [B, N, Ct]."""
        return self.map_image_tokens(image_tokens)

    def contrastive_logits(self, image_emb: Tensor, text_emb: Tensor) -> Tensor:
        """Scaled cosine similarities [B_img, B_txt] of normalised embeddings."""
        scale = self.logit_scale.exp().clamp(max=self.max_logit_scale)
        return scale * image_emb @ text_emb.t()

    # -- losses -----------------------------------------------------------------------------
    def _contrastive_loss(self, image_feat: Tensor, tokens: Tensor) -> Tensor:
        logits = self.contrastive_logits(F.normalize(image_feat, dim=-1),
                                         self.encode_text(tokens))
        if self.contrastive_loss == 'focal':
            return focal_contrastive_loss(logits, self.focal_alpha, self.focal_gamma)
        return infonce_loss(logits)

    def _caption_loss(self, image_tokens: Tensor, tokens: Tensor) -> Tensor:
        logits = self.text.generate_logits(tokens[:, :-1], self.image_kv(image_tokens))
        return caption_loss(logits, tokens, self.text.pad_id)

    def loss(self, inputs: Tensor, data_samples: list[BaseDataElement]) -> dict[str, Tensor]:
        """Both passes over one image-encoder run. Returns ``loss_contrastive``, ``loss_caption``
        (each already weighted; absent when its weight is 0) and ``temperature`` for the log."""
        if self.pass_order is None:
            raise RuntimeError(
                'MaMMUT has no pass schedule: add dict(type="TwoPassScheduleHook") to the '
                'config\'s custom_hooks (or call model.set_pass_schedule before loss()).')
        tokens = self.tokenize([s.caption for s in data_samples])
        image_feat, image_tokens = self.visual(inputs)
        losses: dict[str, Tensor] = {}
        for name in self.pass_order:
            weight = self.loss_weights[name]
            if weight == 0:
                continue
            if name == 'contrastive':
                losses['loss_contrastive'] = weight * self._contrastive_loss(image_feat, tokens)
            else:
                losses['loss_caption'] = weight * self._caption_loss(image_tokens, tokens)
        losses['temperature'] = 1.0 / self.logit_scale.detach().exp()
        return losses

    # -- inference --------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, images: Tensor, max_new_tokens: int | None = None) -> list[str]:
        """Greedy captions for ``images`` [B, 3, H, W] (preprocessed)."""
        _, image_tokens = self.visual(images)
        kv = self.image_kv(image_tokens)
        tok = self.tokenizer
        limit = self.text.context_length - 1
        steps = min(max_new_tokens or limit, limit)
        seq = torch.full((images.shape[0], 1), tok.sot_id, dtype=torch.long,
                         device=images.device)
        done = torch.zeros(images.shape[0], dtype=torch.bool, device=images.device)
        for _ in range(steps):
            nxt = self.text.generate_logits(seq, kv)[:, -1].argmax(dim=-1)
            nxt = torch.where(done, torch.full_like(nxt, tok.pad_id), nxt)
            seq = torch.cat([seq, nxt[:, None]], dim=1)
            done |= nxt == tok.eot_id
            if bool(done.all()):
                break
        return [tok.decode(row.tolist()) for row in seq]

    def predict(self, inputs: Tensor,
                data_samples: list[BaseDataElement] | None = None) -> list[BaseDataElement]:
        """Fills ``image_embedding`` [D], ``text_embedding`` (when a caption is given: [D] for
        a string, [n, D] for a list of n captions of the image) and ``pred_caption`` (when
        ``test_cfg.generate_captions``) on each data sample."""
        if data_samples is None:
            data_samples = [BaseDataElement() for _ in range(inputs.shape[0])]
        image_emb = self.encode_image(inputs)
        captions = [s.get('caption') for s in data_samples]
        text_emb = None
        if all(c is not None for c in captions):
            groups = [[c] if isinstance(c, str) else list(c) for c in captions]
            flat = self.encode_text([c for g in groups for c in g])
            text_emb = [e[0] if isinstance(c, str) else e
                        for c, e in zip(captions, flat.split([len(g) for g in groups]))]
        generated = (self.generate(inputs, self.test_cfg['max_new_tokens'])
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
            return image_emb, self.encode_text([s.caption for s in data_samples])
        raise RuntimeError(f'invalid mode {mode!r}; use loss, predict or tensor')
