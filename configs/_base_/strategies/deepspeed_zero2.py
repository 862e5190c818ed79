# DeepSpeed ZeRO stage 2 through MMEngine's FlexibleRunner: optimizer states and gradients
# partitioned over the processes, parameters replicated. A child replaces the optimizer wrapper
# with `DeepSpeedOptimWrapper` (it takes only the optimizer) and sets `gradient_clipping`
# explicitly: DeepSpeed 0.19.x clips at 1.0 when the config says nothing (0.18 did not clip).
# Checkpoints are ZeRO folders (`iter_N.pth/`); `python WORK_DIR/zero_to_fp32.py WORK_DIR
# full.pth --tag iter_N.pth` (the script DeepSpeed writes beside them) makes the plain state dict
# that tools/test.py and the detector load. `tools/train.py --amp` adds its bf16/fp16 section.
runner_type = 'FlexibleRunner'
strategy = dict(
    type='DeepSpeedStrategy',
    zero_optimization=dict(stage=2, overlap_comm=True, contiguous_gradients=True,
                           reduce_bucket_size=5e8, allgather_bucket_size=5e8))
