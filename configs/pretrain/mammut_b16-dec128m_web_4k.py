# The paper's ablation scale: ViT-B/16 with a 128M-parameter text decoder (12 layers of width 768,
# cross-attention after every 2nd: 18 blocks of 7.1M, embeddings and LM head aside), global
# batch 4K, the recipe of mammut_b16_web.py otherwise.
_base_ = ['./mammut_b16_web.py']
model = dict(text=dict(width=768, num_heads=12))
train_cfg = dict(global_batch_size=4096)
