"""Class embeddings from the text decoder's contrastive pass, cached in memory and on disk."""
from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmengine.registry import MODELS
from torch import Tensor, nn

from ..engine.checkpoint import CheckpointReport, load_prefixed_state_dict
from ..registry import TOKENIZERS
from .vocabulary import DEFAULT_TEMPLATES, check_templates, check_vocabulary, prompt_name

#: Decoder parts the contrastive pass never runs; they are not kept.
GENERATIVE_ONLY = ('cross_attn.', 'lm_head.')


@MODELS.register_module()
class TextClassEmbedder(BaseModule):
    """Class names -> L2-normalised class embeddings [K, D]; never sees an image.

    Each name is put into every template, the prompts go through ``TextDecoder.encode`` (the
    contrastive pass) in batches of ``batch_size``, each prompt embedding is L2-normalised, the
    mean over templates is taken and normalised again. The decoder is frozen and in eval mode; its
    generative-only parts (cross-attention blocks, LM head) are dropped. Results are cached in
    memory and, with ``cache_dir``, on disk, keyed by a hash of the decoder weights, the model and
    tokenizer configs, the templates and the vocabulary; so a fixed vocabulary costs no text pass
    once computed.

    Args:
        text: config of the text decoder (``TextDecoder``).
        tokenizer: config of a tokenizer from ``mammut_det.registry.TOKENIZERS``.
        templates: prompts with one ``{}`` each (default :data:`DEFAULT_TEMPLATES`).
        checkpoint: a MaMMUT checkpoint to load the decoder from.
        prefix: key prefix of the decoder in ``checkpoint``.
        cache_dir: folder of the on-disk cache; ``None`` caches in memory only.
        batch_size: prompts per text pass.
        strict: a missing, unexpected or mis-shaped decoder key in ``checkpoint`` is an error
            (see :meth:`load_checkpoint`); ``False`` loads what fits with a warning.
        init_cfg: ``dict(type='Pretrained', checkpoint=..., prefix='text.')`` loads the decoder in
            :meth:`init_weights` (when training starts) instead of at construction, as detector
            configs do so that testing needs only the detector checkpoint; ``strict=False`` in it
            as ``strict``.
    """

    def __init__(self, text: dict, tokenizer: dict, templates: Sequence[str] | None = None,
                 checkpoint: str | None = None, prefix: str = 'text.',
                 cache_dir: str | None = None, batch_size: int = 256, strict: bool = True,
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if batch_size < 1:
            raise ValueError(f'batch_size must be >= 1, got {batch_size}')
        self.text = MODELS.build(text)
        self.tokenizer = TOKENIZERS.build({**tokenizer, '_scope_': TOKENIZERS.scope})
        if self.tokenizer.context_length > self.text.context_length:
            raise ValueError(f'tokenizer context_length {self.tokenizer.context_length} exceeds '
                             f'the decoder context_length {self.text.context_length}')
        if self.tokenizer.vocab_size > self.text.vocab_size:
            raise ValueError(f'tokenizer has {self.tokenizer.vocab_size} tokens but the decoder '
                             f'only {self.text.vocab_size}')
        self.text.cross_attn = nn.ModuleList()
        self.text.lm_head = None
        self.text.requires_grad_(False)
        self.text.eval()
        self.templates = check_templates(templates or DEFAULT_TEMPLATES)
        self.cache_dir = cache_dir
        self.batch_size = batch_size
        self._config_key = json.dumps([_plain(text), _plain(tokenizer)], sort_keys=True)
        self._fingerprint: str | None = None
        self._memory: dict[str, Tensor] = {}
        self.num_text_passes = 0
        if checkpoint is not None:
            self.load_checkpoint(checkpoint, prefix, strict)

    @property
    def embed_dim(self) -> int:
        return self.text.embed_dim

    def train(self, mode: bool = True) -> TextClassEmbedder:
        """The decoder stays in eval mode."""
        super().train(mode)
        self.text.eval()
        return self

    # -- weights ----------------------------------------------------------------------------
    def load_checkpoint(self, checkpoint: str, prefix: str = 'text.',
                        strict: bool = True) -> CheckpointReport:
        """Load the decoder from ``checkpoint`` keys starting with ``prefix``. The generative-only
        keys (:data:`GENERATIVE_ONLY`) are skipped by design; any other missing, unexpected or
        mis-shaped key raises :class:`~mammut_det.engine.checkpoint.CheckpointKeyError` naming
        them all, or with ``strict=False`` is logged as a warning. Returns the report."""
        if not os.path.isfile(checkpoint):
            raise FileNotFoundError(f'TextClassEmbedder: checkpoint {checkpoint!r} does not exist')
        report = load_prefixed_state_dict(self.text, checkpoint, prefix,
                                          owner='TextClassEmbedder', skip=GENERATIVE_ONLY,
                                          strict=strict)
        report.log('TextClassEmbedder')
        self.reset_cache()
        return report

    def init_weights(self) -> None:
        cfg = self.init_cfg
        if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
            self.load_checkpoint(cfg['checkpoint'], cfg.get('prefix', 'text.'),
                                 strict=cfg.get('strict', True))
            self._is_init = True
            return
        super().init_weights()

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        self.reset_cache()
        super()._load_from_state_dict(*args, **kwargs)

    def reset_cache(self) -> None:
        """Forget the in-memory embeddings and the weights fingerprint (the disk cache stays)."""
        self._fingerprint = None
        self._memory.clear()

    def weights_fingerprint(self) -> str:
        """SHA-1 over the decoder's tensors (names, dtypes, shapes, bytes); computed once."""
        if self._fingerprint is None:
            h = hashlib.sha1(usedforsecurity=False)
            for name, t in self.text.state_dict().items():
                t = t.detach().cpu().contiguous()
                h.update(f'{name}:{t.dtype}:{tuple(t.shape)};'.encode())
                h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
            self._fingerprint = h.hexdigest()
        return self._fingerprint

    def cache_key(self, class_names: Sequence[str]) -> str:
        """Hex key of (weights, configs, templates, vocabulary)."""
        payload = json.dumps([self.weights_fingerprint(), self._config_key, self.templates,
                              list(class_names)])
        return hashlib.sha256(payload.encode()).hexdigest()

    # -- embeddings -------------------------------------------------------------------------
    def forward(self, class_names: Sequence[str]) -> Tensor:
        """``class_names`` (K) -> L2-normalised embeddings [K, D] on the decoder's device."""
        names = check_vocabulary(class_names)
        device = self.text.token_embedding.weight.device
        key = self.cache_key(names)
        if key not in self._memory:
            emb = self._read_cache(key, names)
            if emb is None:
                emb = self.compute(names).cpu()
                self._write_cache(key, names, emb)
            self._memory[key] = emb
        return self._memory[key].to(device)

    def compute(self, class_names: Sequence[str]) -> Tensor:
        """The text passes, uncached: [K, D] normalised (see :func:`embed_class_names`)."""
        emb = embed_class_names(self.text, self.tokenizer, class_names, self.templates,
                                self.batch_size)
        self.num_text_passes += math.ceil(len(class_names) * len(self.templates)
                                          / self.batch_size)
        return emb

    def _cache_path(self, key: str) -> str | None:
        return None if self.cache_dir is None else os.path.join(self.cache_dir, f'{key}.pt')

    def _read_cache(self, key: str, names: tuple[str, ...]) -> Tensor | None:
        path = self._cache_path(key)
        if path is None or not os.path.isfile(path):
            return None
        entry = torch.load(path, map_location='cpu', weights_only=True)
        if tuple(entry.get('class_names', ())) != names:
            return None
        return entry['embeddings']

    def _write_cache(self, key: str, names: tuple[str, ...], emb: Tensor) -> None:
        path = self._cache_path(key)
        if path is None:
            return
        os.makedirs(self.cache_dir, exist_ok=True)
        tmp = f'{path}.{os.getpid()}.tmp'
        torch.save(dict(embeddings=emb, class_names=list(names), templates=list(self.templates)),
                    tmp)
        os.replace(tmp, path)


@torch.no_grad()
def embed_class_names(text: nn.Module, tokenizer, class_names: Sequence[str],
                      templates: Sequence[str], batch_size: int = 256) -> Tensor:
    """Class embeddings [K, D] from a ``TextDecoder``'s contrastive pass, on its device.

    Each name goes into every template; each prompt embedding is L2-normalised, the mean over
    templates taken and normalised again. With ``masked_mean`` pooling, padding is masked out of
    attention and pooling, so prompts are batched by length and each batch is cut to its longest
    prompt (same result, fewer FLOPs)."""
    prompts = [t.format(prompt_name(n)) for n in class_names for t in templates]
    device = text.token_embedding.weight.device
    tokens = tokenizer(prompts)
    valid = tokenizer.real_mask(tokens)
    trim = not text.fixed_length
    lengths = valid.sum(dim=1)
    order = torch.argsort(lengths, stable=True) if trim else torch.arange(len(prompts))
    feats = torch.empty(len(prompts), text.embed_dim)
    for start in range(0, len(prompts), batch_size):
        idx = order[start:start + batch_size]
        width = int(lengths[idx].max()) if trim else tokens.shape[1]
        batch, mask = tokens[idx, :width].to(device), valid[idx, :width].to(device)
        feats[idx] = F.normalize(text.encode(batch, mask).float(), dim=-1).cpu()
    per_prompt = feats.view(len(class_names), len(templates), -1)
    return F.normalize(per_prompt.mean(dim=1), dim=-1).to(device)


def _plain(cfg) -> object:
    """A config as JSON-serialisable plain data (for the cache key)."""
    if isinstance(cfg, dict):
        return {str(k): _plain(v) for k, v in cfg.items()}
    if isinstance(cfg, (list, tuple)):
        return [_plain(v) for v in cfg]
    if isinstance(cfg, (str, int, float, bool)) or cfg is None:
        return cfg
    return repr(cfg)
