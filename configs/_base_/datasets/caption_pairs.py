# Image-caption pairs (CaptionDataset: JSON lines, CSV or COCO captions) for MaMMUT pretraining,
# with held-out image-text retrieval as validation. A child sets `data_root`, the pipelines and
# the tokenizer (given to the datasets, captions are tokenised in the data workers).
train_dataloader = dict(
    batch_size=64, num_workers=2, persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='CaptionDataset', ann_file='train.jsonl'))
val_dataloader = dict(
    batch_size=100, num_workers=1, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='CaptionDataset', ann_file='val.jsonl', test_mode=True))
val_evaluator = dict(type='RetrievalMetric', topk=(1, 5))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
