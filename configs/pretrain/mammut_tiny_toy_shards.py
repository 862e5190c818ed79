# The toy two-pass pretraining (mammut_tiny_toy.py) reading its training set from WebDataset shards.
# Make the data first:
#   python tools/make_toy_captions.py data/toy_captions
#   python tools/make_shards.py data/toy_captions/train.jsonl data/toy_captions/shards \
#       --shard-size 100
_base_ = ['./mammut_tiny_toy.py']

shards = 'data/toy_captions/shards/{00000..00019}.tar'  # 2000 samples, sizes.json beside them
# mammut_tiny_toy.py's training pipeline without LoadImageFromFile: the dataset decodes the images
train_pipeline = [
    dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.6, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackCaptionInputs'),
]
train_dataloader = dict(
    batch_size=64, num_workers=2, persistent_workers=True,
    sampler=None,  # the dataset splits the shards among ranks and workers itself
    dataset=dict(_delete_=True, type='WebCaptionDataset', shards=shards,
                 tokenizer={{_base_.tokenizer_cfg}}, pipeline=train_pipeline,
                 shuffle_buffer=500, shuffle_initial=100))
# The base runtime's schedule hook, and the hook that logs skipped samples and resumes the stream
custom_hooks = [
    dict(type='TwoPassScheduleHook', weights=dict(contrastive=1.0, generative=1.0), shuffle=True),
    dict(type='ShardStreamHook', interval=50),
]
