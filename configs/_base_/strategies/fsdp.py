# Fully sharded data parallel (FSDP) through MMEngine's FlexibleRunner: parameters, gradients and
# optimizer states sharded over the processes (FULL_SHARD), one FSDP unit per transformer block
# (mammut_block_wrap_policy), float32 master weights (`tools/train.py --amp` adds FSDP's
# MixedPrecision). Checkpoints are full state dicts that rank 0 gathers and saves, with plain
# keys (visual.conv1.weight ...): the files tools/test.py, the detector's backbone (init_cfg) and
# the class embedder load. Launch with tools/dist_train.sh (torchrun) or tools/slurm_train.sh.
runner_type = 'FlexibleRunner'
strategy = dict(
    type='FSDPStrategy',
    model_wrapper=dict(type='MMFullyShardedDataParallel', use_orig_params=True,
                       sharding_strategy='FULL_SHARD',
                       auto_wrap_policy='mammut_block_wrap_policy'),
    state_dict_cfg='full')
