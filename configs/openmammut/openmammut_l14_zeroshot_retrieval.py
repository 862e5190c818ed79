# Zero-shot image-text retrieval with the converted openMaMMUT-ViT-L-14 weights (no training).
#   python tools/convert_openmammut.py open_clip_pytorch_model.bin checkpoints/openmammut_l14.pth
#   python tools/test.py configs/openmammut/openmammut_l14_zeroshot_retrieval.py \
#       checkpoints/openmammut_l14.pth
# Annotations: one JSON object per line, {"image": "val2014/xxx.jpg", "caption": "..."} (e.g. the
# Karpathy test split of COCO, one line per caption). Preprocessing follows open_clip's eval
# transform: shorter side to 224 (bicubic, PIL), centre crop 224, CLIP mean/std (in the preset).
_base_ = ['./openmammut_l14.py']

custom_imports = dict(imports=['mammut_det'], allow_failed_imports=False)
default_scope = None
load_from = 'checkpoints/openmammut_l14.pth'

data_root = 'data/coco/'
test_pipeline = [
    dict(type='LoadImageFromFile'),
    # keep_ratio with a long-side limit that is never reached: the shorter side becomes 224
    dict(type='Resize', scale=(224 * 100, 224), keep_ratio=True, interpolation='bicubic',
         backend='pillow'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackCaptionInputs'),
]
test_dataloader = dict(
    batch_size=32, num_workers=4, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='CaptionDataset', data_root=data_root,
                 ann_file='annotations/coco_karpathy_test.jsonl',
                 data_prefix=dict(img_path=''), pipeline=test_pipeline, test_mode=True))
test_evaluator = dict(type='RetrievalMetric', topk=(1, 5, 10))
test_cfg = dict(type='TestLoop')
model = dict(test_cfg=dict(generate_captions=False))

default_hooks = dict(timer=dict(type='IterTimerHook'), logger=dict(type='LoggerHook', interval=20))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='nccl'))
log_processor = dict(type='LogProcessor', window_size=20, by_epoch=False)
log_level = 'INFO'
