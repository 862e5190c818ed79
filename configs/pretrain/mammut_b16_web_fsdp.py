# mammut_b16_web.py under FSDP (FlexibleRunner + FSDPStrategy,
# full state dict checkpoints).
_base_ = ['./mammut_b16_web.py', '../_base_/strategies/fsdp.py']
