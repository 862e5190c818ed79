# Image-caption pairs streamed from WebDataset shards (img2dataset / LAION / DataComp layout:
# {key}.jpg|png|webp + {key}.txt) with the paper's augmentation: resize to 272 x 272, then a
# random 224 x 224 crop. A child sets `shards` (brace pattern, list, or a file listing shards;
# a sizes.json beside them or `num_samples`) and the tokenizer (captions are tokenised in the
# data workers). The dataset splits the shards among ranks and workers itself (sampler=None).
train_pipeline = [
    dict(type='Resize', scale=(272, 272), keep_ratio=False),
    dict(type='mmdet.RandomCrop', crop_size=(224, 224)),
    dict(type='PackCaptionInputs'),
]
train_dataloader = dict(
    batch_size=64, num_workers=8, persistent_workers=True, pin_memory=True, sampler=None,
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='WebCaptionDataset', shards='data/web/{00000..00099}.tar',
                 pipeline=train_pipeline, shuffle_buffer=5000, shuffle_initial=1000))
