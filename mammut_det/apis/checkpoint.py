"""Loading a detector checkpoint with one clear message when it holds another model's weights."""
from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Mapping

from mmengine.runner.checkpoint import CheckpointLoader
from torch import Tensor, nn


class CheckpointMismatchError(ValueError):
    """A checkpoint whose tensors are not those of the model being loaded."""


def read_checkpoint(path: str) -> dict:
    """The checkpoint dict of ``path`` (on the CPU); a missing or unreadable file raises with
    its name."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'checkpoint {path!r} does not exist')
    try:
        checkpoint = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    except Exception as e:  # torch.load raises many kinds for a file that is not a checkpoint
        detail = str(e).splitlines()[0] if str(e) else ''
        raise CheckpointMismatchError(f'cannot read checkpoint {path!r}: not a PyTorch '
                                      f'checkpoint ({type(e).__name__}: {detail})') from e
    if not isinstance(checkpoint, Mapping):
        raise CheckpointMismatchError(f'checkpoint {path!r} holds a {type(checkpoint).__name__}, '
                                      'not a dict of tensors')
    return dict(checkpoint)


def checkpoint_state_dict(checkpoint: Mapping, path: str = 'the checkpoint') -> dict:
    """Its ``state_dict`` (or the dict itself), without DDP's ``module.`` prefix."""
    state = checkpoint.get('state_dict', checkpoint)
    if not isinstance(state, Mapping):
        raise CheckpointMismatchError(f'{path}: "state_dict" is a {type(state).__name__}, not a '
                                      'dict of tensors')
    return {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}


def _top_level(keys: Iterable[str]) -> str:
    counts = Counter(k.split('.')[0] for k in keys)
    return ', '.join(f'{prefix} ({n})' for prefix, n in sorted(counts.items()))


def check_state_dict(model: nn.Module, state: Mapping[str, object], path: str,
                     expected: str) -> None:
    """Raise :class:`CheckpointMismatchError` unless ``state`` has exactly the tensors of
    ``model`` (names and shapes; extra state is optional). The message names ``path``, what
    was ``expected``, and summarises the differences by top-level module."""
    own = model.state_dict()
    optional = {k for k in own if k.endswith('_extra_state')}
    missing = [k for k in own if k not in state and k not in optional]
    unexpected = [k for k in state if k not in own]
    mismatched = [k for k in own if k in state and k not in optional
                  and isinstance(state[k], Tensor)
                  and isinstance(own[k], Tensor) and state[k].shape != own[k].shape]
    if not (missing or unexpected or mismatched):
        return
    needed = [k for k in own if k not in optional]
    lines = [f'{path} is not a checkpoint of {expected}, whose tensors are under: '
             f'{_top_level(needed)}']
    if len(missing) == len(needed):
        lines.append(f'  none of its {len(state)} entries is one of them; they are under: '
                     f'{_top_level(state)}')
    else:
        if missing:
            lines.append(f'  {len(missing)} of the {len(needed)} model tensors are missing, '
                         f'under: {_top_level(missing)}')
        if unexpected:
            lines.append(f'  {len(unexpected)} of its entries are not in the model, under: '
                         f'{_top_level(unexpected)}')
    for k in mismatched[:3]:
        lines.append(f'  {k}: shape {tuple(state[k].shape)} in the checkpoint, '
                     f'{tuple(own[k].shape)} in the model')
    if len(mismatched) > 3:
        lines.append(f'  ... and {len(mismatched) - 3} more tensors of another shape '
                     '(a config of another size?)')
    top = {k.split('.')[0] for k in state}
    if {'visual', 'text'} <= top and 'backbone' not in top:
        lines.append('  It looks like a MaMMUT pretraining checkpoint. Detection needs a detector '
                     'checkpoint: train one from it with tools/train.py and a configs/detection '
                     'config (the pretraining weights go in model.backbone.init_cfg and '
                     'model.class_embedder.init_cfg).')
    raise CheckpointMismatchError('\n'.join(lines))
