"""Open-vocabulary action head: the clip feature scored against text embeddings of class names."""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from mmaction.models.heads import BaseHead
from mmengine.registry import MODELS
from torch import Tensor, nn

from ..detection.class_embedder import TextClassEmbedder
from ..detection.vocabulary import load_vocabulary

#: Prompt templates for action names (a subset of CLIP's Kinetics prompts).
VIDEO_TEMPLATES = (
    'a photo of a person {}.',
    'a video of a person {}.',
    'a example of a person {}.',
    'a demonstration of a person {}.',
    'a photo of a person doing {}.',
    'a video of a person doing {}.',
    'a video of {}.',
    'a photo of {}.',
)


def build_class_embedder(embedder: dict | nn.Module) -> nn.Module:
    """A :class:`~mammut_det.detection.class_embedder.TextClassEmbedder` from its arguments
    (``type`` optional; ``templates`` default to :data:`VIDEO_TEMPLATES`; an ``init_cfg``
    checkpoint is loaded now), or the module itself."""
    if isinstance(embedder, nn.Module):
        return embedder
    kwargs = dict(embedder)
    kwargs.pop('type', None)
    kwargs.setdefault('templates', list(VIDEO_TEMPLATES))
    module = TextClassEmbedder(**kwargs)
    if module.init_cfg:
        module.init_weights()
    return module


@MODELS.register_module()
class OpenVocabClsHead(BaseHead):
    """Scores ``[N, in_channels]`` clip features by cosine similarity with class-name embeddings
    ``[K, in_channels]`` times a learnable scale ``exp(logit_scale)`` (init ``1 / temperature``).

    The class embeddings come from the text decoder's contrastive pass over prompt templates
    (``TextClassEmbedder``), so any list of action names works zero-shot:
    :meth:`set_class_names` swaps the vocabulary. The embedder is kept out of the module tree, so
    video checkpoints and the optimiser never carry the text decoder; the embeddings are a
    non-persistent buffer recomputed from the names.

    Args:
        in_channels: clip feature size (the backbone's ``embed_dim``).
        class_names: names, a file with one name per line, or a comma-separated string
            (:func:`~mammut_det.detection.vocabulary.load_vocabulary`).
        embedder: ``TextClassEmbedder`` arguments (``text``, ``tokenizer``, ``checkpoint`` ...) or
            a built embedder: ``forward(names) -> [K, D]`` L2-normalised.
        temperature: initial temperature of the cosine logits.
        learn_temperature: learn the scale when fine-tuning.
        **kwargs: :class:`mmaction.models.heads.BaseHead` arguments (``loss_cls``,
            ``average_clips``, ``topk`` ...).
    """

    def __init__(self, in_channels: int, class_names: str | Sequence[str],
                 embedder: dict | nn.Module, temperature: float = 0.01,
                 learn_temperature: bool = True, **kwargs) -> None:
        names = list(load_vocabulary(class_names))
        kwargs.setdefault('loss_cls', dict(type='CrossEntropyLoss'))
        super().__init__(num_classes=len(names), in_channels=in_channels, **kwargs)
        object.__setattr__(self, 'embedder', build_class_embedder(embedder))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / temperature)),
                                        requires_grad=learn_temperature)
        self.register_buffer('class_embeddings', torch.empty(0, in_channels), persistent=False)
        self.set_class_names(names)

    @torch.no_grad()
    def set_class_names(self, class_names: str | Sequence[str]) -> None:
        """Embed a new vocabulary; predictions then range over these names."""
        names = list(load_vocabulary(class_names))
        emb = self.embedder(names).detach().float()
        if emb.shape != (len(names), self.in_channels):
            raise ValueError(f'class embedder gave {tuple(emb.shape)} for {len(names)} names; the '
                             f'head expects [{len(names)}, {self.in_channels}] (text embed_dim '
                             f'must equal the video embed_dim)')
        self.class_names = names
        self.num_classes = len(names)
        self.class_embeddings = F.normalize(emb, dim=-1).to(self.logit_scale.device)

    def forward(self, x: Tensor, **kwargs) -> Tensor:
        """``x`` [N, in_channels] -> logits [N, K]."""
        emb = self.class_embeddings.to(x.dtype)
        return self.logit_scale.exp() * F.normalize(x, dim=-1) @ emb.t()
