# MaMMUT L/14: ViT (1024 wide, 24 blocks, patch 14) and a 12-layer text decoder of width 768,
# cross-attention after every 2nd layer. Vocabulary: CLIP's 49408-token BPE (the file ships with
# open_clip_torch; or give 'path'). Swap in a BPETokenizer trained on your captions if you prefer.
tokenizer_cfg = dict(type='CLIPTokenizer', context_length=77)
vision_cfg = dict(type='MaMMUTViT', img_size=224, patch_size=14, width=1024, depth=24, num_heads=16,
              embed_dim=768, cpe=dict(full_size=1024))
text_cfg = dict(type='TextDecoder', vocab_size=49408, context_length=77, width=768, depth=12,
            num_heads=12, embed_dim=768, cross_attn_every=2)
data_preprocessor = dict(type='ImgDataPreprocessor', mean=[122.771, 116.746, 104.094],
                         std=[68.501, 66.632, 70.323], bgr_to_rgb=True)
model = dict(type='MaMMUT', vision=vision_cfg, text=text_cfg, tokenizer=tokenizer_cfg,
             data_preprocessor=data_preprocessor, contrastive_loss='focal',
             focal_alpha=0.5, focal_gamma=1.0)
