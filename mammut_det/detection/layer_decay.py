"""Layer-wise learning-rate decay for a ViT backbone (ViTDet, BEiT)."""
from __future__ import annotations

from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS
from torch import nn

EMBEDDING_PARAMS = ('conv1.', 'class_embedding', 'positional_embedding', 'ln_pre.')


def vit_layer_id(name: str, num_layers: int, prefix: str = 'backbone.') -> int:
    """Depth of parameter ``name``: 0 for the embeddings, i + 1 for ``blocks.i``, and
    ``num_layers + 1`` for everything after the blocks and outside the backbone."""
    if not name.startswith(prefix):
        return num_layers + 1
    rest = name[len(prefix):]
    if rest.startswith('blocks.'):
        return int(rest.split('.')[1]) + 1
    if rest.startswith(EMBEDDING_PARAMS):
        return 0
    return num_layers + 1


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class LayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """MMEngine's default constructor, then each parameter's lr times
    ``layer_decay_rate ** (num_layers + 1 - layer_id)`` (:func:`vit_layer_id`).

    ``paramwise_cfg`` takes ``layer_decay_rate`` (required), ``num_layers`` (default: the number of
    ``backbone.blocks``), ``backbone_prefix`` (default ``'backbone.'``) and every option of
    :class:`DefaultOptimWrapperConstructor` (``custom_keys``, ``norm_decay_mult``, ...), applied
    first.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: dict | None = None) -> None:
        super().__init__(optim_wrapper_cfg, paramwise_cfg)
        if 'layer_decay_rate' not in self.paramwise_cfg:
            raise KeyError('LayerDecayOptimWrapperConstructor needs paramwise_cfg.layer_decay_rate')
        rate = float(self.paramwise_cfg['layer_decay_rate'])
        if not 0 < rate <= 1:
            raise ValueError(f'layer_decay_rate must be in (0, 1], got {rate}')
        self.decay_rate = rate
        self.backbone_prefix = self.paramwise_cfg.get('backbone_prefix', 'backbone.')

    def add_params(self, params: list[dict], module: nn.Module, prefix: str = '',
                   **kwargs) -> None:
        """As the default, but a sub-module with no trainable parameter (the frozen VLM tower,
        a frozen backbone) is left out whole, without a warning per parameter."""
        if not any(p.requires_grad for p in module.parameters()):
            return
        super().add_params(params, module, prefix=prefix, **kwargs)
        if prefix:
            return
        num_layers = self.paramwise_cfg.get('num_layers')
        if num_layers is None:
            blocks = getattr(getattr(module, 'backbone', None), 'blocks', None)
            if blocks is None:
                raise KeyError('set paramwise_cfg.num_layers: the model has no backbone.blocks')
            num_layers = len(blocks)
        names = {id(p): n for n, p in module.named_parameters()}
        scales: dict[int, float] = {}
        for group in params:
            layer = max(vit_layer_id(names[id(p)], num_layers, self.backbone_prefix)
                        for p in group['params'])
            scale = self.decay_rate ** (num_layers + 1 - layer)
            group['lr'] = group.get('lr', self.base_lr) * scale
            scales[layer] = scale
        print_log('layer-wise lr decay ' + ', '.join(
            f'layer {k}: x{v:.4g}' for k, v in sorted(scales.items())), logger='current')
