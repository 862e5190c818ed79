# Clip transforms of the generative video presets (VideoQA, video captioning): 32 frames spread
# uniformly over the whole video (a question may be about any moment), 224 px, decoded by
# decord, as NCTHW. Task bases append TokenizePrompted and MMAction2's PackActionInputs.
clip_len = 32
video_train_transforms = [
    dict(type='DecordInit'),
    dict(type='UniformSample', clip_len=clip_len, num_clips=1),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='RandomResizedCrop', area_range=(0.5, 1.0)),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
]
video_test_transforms = [
    dict(type='DecordInit'),
    dict(type='UniformSample', clip_len=clip_len, num_clips=1, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 224)),
    dict(type='CenterCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
]
clip_tokenizer = dict(type='CLIPTokenizer', context_length=77)
