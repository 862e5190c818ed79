# Ablation of tube_mammut_b16_k400.py without tubes: frames 8 and 24 of each clip are encoded one by
# one by the image encoder and their features averaged.
_base_ = ['./tube_mammut_b16_k400.py']
model = dict(backbone=dict(use_tubes=False))
