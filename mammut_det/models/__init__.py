"""The MaMMUT image encoder, text decoder, losses and pretraining model."""
from .layers import Attention, Block, CrossAttentionBlock, Mlp
from .losses import caption_loss, focal_contrastive_loss, infonce_loss
from .mammut import MaMMUT
from .text_decoder import TextDecoder
from .vit import MaMMUTViT

__all__ = ['Attention', 'Block', 'CrossAttentionBlock', 'Mlp', 'MaMMUT', 'MaMMUTViT',
           'TextDecoder', 'caption_loss', 'focal_contrastive_loss', 'infonce_loss']
