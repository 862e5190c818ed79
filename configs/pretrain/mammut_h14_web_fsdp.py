# mammut_h14_web.py under FSDP (FlexibleRunner + FSDPStrategy,
# full state dict checkpoints).
_base_ = ['./mammut_h14_web.py', '../_base_/strategies/fsdp.py']
