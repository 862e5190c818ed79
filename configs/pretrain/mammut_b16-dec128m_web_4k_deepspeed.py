# mammut_b16-dec128m_web_4k.py under DeepSpeed ZeRO 2 (FlexibleRunner + DeepSpeedStrategy),
# clipping at the same norm as the other flavours.
_base_ = ['./mammut_b16-dec128m_web_4k.py', '../_base_/strategies/deepspeed_zero2.py']
optim_wrapper = dict(_delete_=True, type='DeepSpeedOptimWrapper',
                     optimizer={{_base_.optim_wrapper.optimizer}},
                     paramwise_cfg={{_base_.optim_wrapper.paramwise_cfg}})
strategy = dict(gradient_clipping={{_base_.optim_wrapper.clip_grad.max_norm}})
