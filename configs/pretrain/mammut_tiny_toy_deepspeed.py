# The toy two-pass pretraining (mammut_tiny_toy.py) under DeepSpeed ZeRO 2: bash
# tools/dist_train.sh configs/pretrain/mammut_tiny_toy_deepspeed.py 2 (needs `pip install
# deepspeed`; on a machine without a GPU it runs on its CPU accelerator with gloo).
_base_ = ['./mammut_tiny_toy.py', '../_base_/strategies/deepspeed_zero2.py']
optim_wrapper = dict(_delete_=True, type='DeepSpeedOptimWrapper',
                     optimizer={{_base_.optim_wrapper.optimizer}},
                     paramwise_cfg={{_base_.optim_wrapper.paramwise_cfg}})
strategy = dict(gradient_clipping={{_base_.optim_wrapper.clip_grad.max_norm}})
