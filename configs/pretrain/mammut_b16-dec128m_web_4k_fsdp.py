# mammut_b16-dec128m_web_4k.py under FSDP (FlexibleRunner + FSDPStrategy,
# full state dict checkpoints).
_base_ = ['./mammut_b16-dec128m_web_4k.py', '../_base_/strategies/fsdp.py']
