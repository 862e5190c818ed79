# openMaMMUT-ViT-L-14 (LAION, DataComp-1.4B): the model preset that the public weights load into.
# Every number is spelled out, not inherited, because the checkpoint fixes them. Legacy switches
# (see /work/shared/OPENMAMMUT.md and mammut_det/models/openmammut.py):
#   vision: CLS token, no patch-conv bias, ln_pre; pooled = ln_post(mean of all tokens) @ proj.
#   text: contrastive feature = mean over all 77 positions (pads included, no padding mask),
#         no contrastive projection (embed_dim == width == 768); LM head = the fork's
#         text_projection; cross-attention after layers 0, 2, ..., 10 over every image token.
#   tokenizer: CLIP BPE (49408 ids, pad 0, context 77); its vocabulary file ships with
#         open_clip_torch (`pip install open_clip_torch --no-deps`) or set tokenizer.path.
# Convert the weights once: python tools/convert_openmammut.py open_clip_pytorch_model.bin \
#     checkpoints/openmammut_l14.pth --check
# then `load_from = 'checkpoints/openmammut_l14.pth'` (or init_cfg=dict(type='Pretrained', ...)).
tokenizer_cfg = dict(type='CLIPTokenizer', path=None, context_length=77)
vision_cfg = dict(type='MaMMUTViT', img_size=224, patch_size=14, width=1024, depth=24,
                  num_heads=16, mlp_ratio=4.0, embed_dim=768, class_token=True,
                  patch_bias=False, pre_norm=True, ln_eps=1e-5)
text_cfg = dict(type='TextDecoder', vocab_size=49408, context_length=77, width=768, depth=12,
                num_heads=12, mlp_ratio=4.0, embed_dim=768, cross_attn_every=2, pad_id=0,
                pool='mean_all', text_proj=False, ln_eps=1e-5)
# open_clip's OPENAI_DATASET_MEAN / STD times 255; images arrive BGR from LoadImageFromFile.
data_preprocessor = dict(type='ImgDataPreprocessor',
                         mean=[122.7709383, 116.7460125, 104.09373615],
                         std=[68.5005327, 66.6321579, 70.32316305], bgr_to_rgb=True)
model = dict(type='MaMMUT', vision=vision_cfg, text=text_cfg, tokenizer=tokenizer_cfg,
             data_preprocessor=data_preprocessor, contrastive_loss='focal',
             focal_alpha=0.5, focal_gamma=1.0)
