# openMaMMUT-ViT-L-14's fixed shapes and legacy switches, under names of their own (om_*) so that
# detection and video configs can take them as a second `_base_` without key clashes.
# See configs/openmammut/openmammut_l14.py for what each switch means.
om_tokenizer = dict(type='CLIPTokenizer', path=None, context_length=77)
om_vision = dict(type='MaMMUTViT', img_size=224, patch_size=14, width=1024, depth=24,
                 num_heads=16, mlp_ratio=4.0, embed_dim=768, class_token=True,
                 patch_bias=False, pre_norm=True, ln_eps=1e-5)
om_text = dict(type='TextDecoder', vocab_size=49408, context_length=77, width=768, depth=12,
               num_heads=12, mlp_ratio=4.0, embed_dim=768, cross_attn_every=2, pad_id=0,
               pool='mean_all', text_proj=False, ln_eps=1e-5)
# open_clip's OPENAI_DATASET_MEAN / STD times 255; images arrive BGR from LoadImageFromFile.
om_data_preprocessor = dict(type='ImgDataPreprocessor',
                            mean=[122.7709383, 116.7460125, 104.09373615],
                            std=[68.5005327, 66.6321579, 70.32316305], bgr_to_rgb=True)
