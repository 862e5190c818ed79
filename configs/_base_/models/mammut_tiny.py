# A tiny MaMMUT for tests and the toy data: 64 px images, 8 px patches, 2+2 layers of width 64.
# The tokenizer is a byte-level BPE trained on the toy captions (tools/make_toy_captions.py).
tokenizer_cfg = dict(type='BPETokenizer', path='data/toy_captions/tokenizer.json',
                     context_length=32)
vision_cfg = dict(type='MaMMUTViT', img_size=64, patch_size=8, width=64, depth=2, num_heads=2,
              embed_dim=64, cpe=dict(full_size=256))
text_cfg = dict(type='TextDecoder', vocab_size=512, context_length=32, width=64, depth=2,
            num_heads=2, embed_dim=64, cross_attn_every=2)
data_preprocessor = dict(type='ImgDataPreprocessor', mean=[122.8, 116.3, 104.0],
                         std=[68.5, 66.6, 70.3], bgr_to_rgb=True)
model = dict(type='MaMMUT', vision=vision_cfg, text=text_cfg, tokenizer=tokenizer_cfg,
             data_preprocessor=data_preprocessor, contrastive_loss='focal',
             focal_alpha=0.5, focal_gamma=1.0)
