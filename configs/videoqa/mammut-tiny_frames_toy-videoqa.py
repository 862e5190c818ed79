# Ablation of mammut-tiny_tube_toy-videoqa.py: no tubes; the decoder cross-attends to the tokens
# of frames 4 and 12, each encoded alone by the image model, with nothing that tells their
# order. "which way does the dot move?" is then answered at chance; the colour still is not.
_base_ = ['./mammut-tiny_tube_toy-videoqa.py']
model = dict(vision=dict(use_tubes=False))
