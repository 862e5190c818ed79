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
_base_ = ['./_base_/openmammut_l14_parts.py']
tokenizer_cfg = {{_base_.om_tokenizer}}
vision_cfg = {{_base_.om_vision}}
text_cfg = {{_base_.om_text}}
data_preprocessor = {{_base_.om_data_preprocessor}}
model = dict(type='MaMMUT', vision=vision_cfg, text=text_cfg, tokenizer=tokenizer_cfg,
             data_preprocessor=data_preprocessor, contrastive_loss='focal',
             focal_alpha=0.5, focal_gamma=1.0)
