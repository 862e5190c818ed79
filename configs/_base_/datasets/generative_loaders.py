# Loaders of the image generative tasks: an endless shuffled training stream and ordered
# evaluation, samples pseudo-collated (the model pads the text of each batch). A dataset base
# sets each loader's `dataset` (and may change the batch sizes and workers).
train_dataloader = dict(
    batch_size=32, num_workers=8, persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'))
val_dataloader = dict(
    batch_size=64, num_workers=8, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'))
test_dataloader = val_dataloader
