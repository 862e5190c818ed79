# Image transforms of the generative fine-tuning presets at 224 px (MaMMUT B/16, openMaMMUT
# L/14; both read CLIP's vocabulary with a context of 77): training takes a random resized crop
# (no flip: captions and questions say left and right), evaluation the whole image resized.
# Task bases append TokenizePrompted (prompt and target in the data workers) and the packer.
clip_tokenizer = dict(type='CLIPTokenizer', context_length=77)
image_train_transforms = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.5, 1.0),
         interpolation='bicubic'),
]
image_test_transforms = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(224, 224), keep_ratio=False, interpolation='bicubic'),
]
