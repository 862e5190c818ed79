"""The MaMMUT image encoder, text decoder, losses and pretraining model."""
from .layers import Attention, Block, CrossAttentionBlock, Mlp
from .losses import focal_contrastive_loss, infonce_loss, lm_head_cross_entropy_sum
from .mammut import MaMMUT
from .openmammut import (
                         convert_openmammut_state_dict,
                         load_openmammut,
                         load_openmammut_checkpoint,
                         to_openmammut_state_dict,
)
from .text_decoder import TextDecoder
from .vit import MaMMUTViT

__all__ = ['Attention', 'Block', 'CrossAttentionBlock', 'Mlp', 'MaMMUT', 'MaMMUTViT',
           'TextDecoder', 'convert_openmammut_state_dict', 'focal_contrastive_loss',
           'infonce_loss', 'lm_head_cross_entropy_sum', 'load_openmammut',
           'load_openmammut_checkpoint', 'to_openmammut_state_dict']
