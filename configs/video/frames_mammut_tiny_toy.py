# Ablation of tube_mammut_tiny_toy.py: no tubes; the same frames are encoded one by one and their
# features averaged. On the moving-dot videos this cannot tell the direction (chance level).
_base_ = ['./tube_mammut_tiny_toy.py']
model = dict(backbone=dict(use_tubes=False))
