"""The public openMaMMUT checkpoint (LAION's open_clip fork) <-> :class:`MaMMUT` state dicts.

Every parameter has one rule (``RULES``): a name in the fork, our name, and whether the matrix is
stored transposed. Only two are: the fork applies ``map_viz2txt_kv`` [Cv, Ct] as ``tokens @ W``
where our ``map_image_tokens`` is an ``nn.Linear`` ([Ct, Cv]), and its LM head
``text.text_projection`` is [Ct, vocab] where our ``text.lm_head`` is an ``nn.Linear``
([vocab, Ct]). Vision blocks move from ``visual.transformer.resblocks`` to ``visual.blocks``; the
rest keeps its name. The model must be built with the legacy switches of
``configs/openmammut/openmammut_l14.py`` (CLS token, no patch bias, ``ln_pre``, mean over all
text positions, no text projection).

A key that matches no rule, a key the target lacks or does not get, and a shape that differs from
the target are errors naming the keys. Checkpoints are read with ``torch.load(weights_only=True)``
or ``safetensors``.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping

import torch
from torch import Tensor, nn

_FIELDS = {
    'i': r'\d+',
    'p': r'weight|bias',
    'blk': r'ln_[12]\.(?:weight|bias)|attn\.in_proj_(?:weight|bias)|attn\.out_proj\.(?:weight|bias)'
           r'|mlp\.c_(?:fc|proj)\.(?:weight|bias)',
    'xblk': r'ln_[12]\.(?:weight|bias)|ln_1_kv\.(?:weight|bias)|attn\.in_proj_(?:weight|bias)'
            r'|attn\.out_proj\.(?:weight|bias)|mlp\.c_(?:fc|proj)\.(?:weight|bias)',
}

# (fork name, our name, stored transposed); {i} a block index, {p} weight|bias, {blk} and {xblk}
# a parameter of a self- or cross-attention block.
RULES: tuple[tuple[str, str, bool], ...] = (
    ('logit_scale', 'logit_scale', False),
    ('map_viz2txt_kv', 'map_image_tokens.weight', True),
    ('visual.conv1.weight', 'visual.conv1.weight', False),
    ('visual.class_embedding', 'visual.class_embedding', False),
    ('visual.positional_embedding', 'visual.positional_embedding', False),
    ('visual.ln_pre.{p}', 'visual.ln_pre.{p}', False),
    ('visual.transformer.resblocks.{i}.{blk}', 'visual.blocks.{i}.{blk}', False),
    ('visual.ln_post.{p}', 'visual.ln_post.{p}', False),
    ('visual.proj', 'visual.proj', False),
    ('text.token_embedding.weight', 'text.token_embedding.weight', False),
    ('text.positional_embedding', 'text.positional_embedding', False),
    ('text.resblocks.{i}.{blk}', 'text.resblocks.{i}.{blk}', False),
    ('text.cross_attn.{i}.{xblk}', 'text.cross_attn.{i}.{xblk}', False),
    ('text.ln_final.{p}', 'text.ln_final.{p}', False),
    ('text.text_projection', 'text.lm_head.weight', True),
)


def _compile(template: str) -> re.Pattern:
    pattern = re.escape(template)
    for name, field in _FIELDS.items():
        pattern = pattern.replace(re.escape(f'{{{name}}}'), f'(?P<{name}>{field})')
    return re.compile(pattern)


_COMPILED = tuple((_compile(fork), fork, _compile(ours), ours, t) for fork, ours, t in RULES)

StateDict = Mapping[str, Tensor]
Target = nn.Module | Mapping[str, Tensor | torch.Size] | None


def _shapes(target: Target) -> dict[str, torch.Size] | None:
    if target is None:
        return None
    if isinstance(target, nn.Module):
        target = target.state_dict()
    return {k: v.shape if isinstance(v, Tensor) else torch.Size(v) for k, v in target.items()}


def _rename(sd: StateDict, forward: bool, target: Target, src_name: str,
            dst_name: str) -> dict[str, Tensor]:
    out: dict[str, Tensor] = {}
    origin: dict[str, str] = {}
    unmapped = []
    for key, value in sd.items():
        for fork_re, fork_tpl, ours_re, ours_tpl, transposed in _COMPILED:
            match = (fork_re if forward else ours_re).fullmatch(key)
            if match:
                new = (ours_tpl if forward else fork_tpl).format(**match.groupdict())
                out[new] = value.t().contiguous() if transposed else value
                origin[new] = key
                break
        else:
            unmapped.append(key)
    errors = []
    if unmapped:
        errors.append(f'{src_name} keys that match no openMaMMUT rule: {unmapped}')
    shapes = _shapes(target)
    if shapes is not None:
        missing = [k for k in shapes if k not in out]
        extra = [f'{origin[k]} -> {k}' for k in out if k not in shapes]
        wrong = [f'{origin[k]} {tuple(sd[origin[k]].shape)} -> {k} {tuple(out[k].shape)}, '
                 f'expected {tuple(shapes[k])}'
                 for k in out if k in shapes and out[k].shape != shapes[k]]
        if missing:
            errors.append(f'{dst_name} keys that nothing maps to: {missing}')
        if extra:
            errors.append(f'{dst_name} has no such keys: {extra}')
        if wrong:
            errors.append('shape mismatches: ' + '; '.join(wrong))
    if errors:
        raise ValueError('openMaMMUT conversion failed:\n  ' + '\n  '.join(errors))
    return out


def convert_openmammut_state_dict(sd: StateDict, target: Target = None) -> dict[str, Tensor]:
    """Fork-named state dict -> :class:`MaMMUT` state dict.

    Args:
        sd: the fork's state dict (see :func:`load_openmammut_checkpoint`).
        target: the MaMMUT model (or its state dict, or a mapping of key -> shape) to check
            against: every target key must be produced, with its shape.
    """
    return _rename(sd, True, target, 'openMaMMUT', 'MaMMUT')


def to_openmammut_state_dict(sd: StateDict, target: Target = None) -> dict[str, Tensor]:
    """:class:`MaMMUT` state dict -> fork-named state dict; ``target``: optional fork state dict
    (or key -> shape mapping) to check against."""
    return _rename(sd, False, target, 'MaMMUT', 'openMaMMUT')


def load_openmammut_checkpoint(path: str) -> dict[str, Tensor]:
    """Read a fork checkpoint: a state dict in ``.bin``/``.pt``/``.pth`` (``torch.save``) or
    ``.safetensors``, possibly wrapped as ``{'state_dict': ...}`` and with ``module.`` prefixes
    (DDP). Tensors stay on the CPU in their stored dtype."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'openMaMMUT checkpoint not found: {path}')
    if path.endswith('.safetensors'):
        from safetensors.torch import load_file
        obj = load_file(path, device='cpu')
    else:
        obj = torch.load(path, map_location='cpu', weights_only=True)
    if isinstance(obj, Mapping) and isinstance(obj.get('state_dict'), Mapping):
        obj = obj['state_dict']
    if not isinstance(obj, Mapping):
        raise ValueError(f'{path}: expected a state dict, got {type(obj).__name__}')
    bad = [k for k, v in obj.items() if not isinstance(v, Tensor)]
    if bad:
        raise ValueError(f'{path}: entries that are not tensors: {bad}')
    return {k.removeprefix('module.'): v for k, v in obj.items()}


def load_openmammut(model: nn.Module, path: str) -> nn.Module:
    """Load a fork checkpoint into ``model`` (a :class:`MaMMUT` with the legacy switches)."""
    sd = convert_openmammut_state_dict(load_openmammut_checkpoint(path), target=model)
    model.load_state_dict(sd, strict=True)
    return model
