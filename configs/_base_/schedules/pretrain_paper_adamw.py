# MaMMUT's pretraining recipe (the paper's implementation details): AdamW, learning rate 1e-3,
# weight decay 0.01, 10K warm-up steps then linear decay, 500K steps and then 100K more with the
# cropped positional embedding (CPE, `cpe_begin` for TwoPassScheduleHook), global batch 16K.
# Every count is in optimizer steps over the global batch: GlobalBatchTrainLoop accumulates
# global_batch_size / (processes x train_dataloader.batch_size) batches per step, and stops before
# training if that is not a whole number. Not from the paper: AdamW's betas (torch's defaults), no
# weight decay on norms, biases and the temperature (open_clip's rule), gradient clipping at norm
# 1.0, and the decay reaching 0 at the last step (the CPE phase included).
max_iters = 600000
cpe_begin = 500000
warmup_iters = 10000
train_cfg = dict(type='GlobalBatchTrainLoop', max_iters=max_iters, global_batch_size=16384)
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.01),
    clip_grad=dict(max_norm=1.0),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0,
                       custom_keys={'logit_scale': dict(decay_mult=0.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='LinearLR', start_factor=1.0, end_factor=0.0, by_epoch=False, begin=warmup_iters,
         end=max_iters),
]
