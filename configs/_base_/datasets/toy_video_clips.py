# Clip transforms of the moving-dot toy videos (16 frames of 32 px): the whole clip, decoded by
# decord, as NCTHW. No flips: a flip swaps left and right. Dataset bases append their packer.
toy_clip_len = 16
toy_clip_train_transforms = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=toy_clip_len, frame_interval=1, num_clips=1,
         out_of_bound_opt='loop'),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(32, 32), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
]
toy_clip_test_transforms = [
    dict(t, test_mode=True) if t['type'] == 'SampleFrames' else t
    for t in toy_clip_train_transforms
]
