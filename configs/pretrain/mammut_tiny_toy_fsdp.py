# The toy two-pass pretraining (mammut_tiny_toy.py) under FSDP: bash tools/dist_train.sh
# configs/pretrain/mammut_tiny_toy_fsdp.py 2 (gloo on a machine without a GPU).
_base_ = ['./mammut_tiny_toy.py', '../_base_/strategies/fsdp.py']
