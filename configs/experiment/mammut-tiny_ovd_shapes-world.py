# The tiny MaMMUT open-vocabulary detector on the shapes world: trained on the base classes
# (frequent + common; the rare ones have no box in training), evaluated on all 12 with LVIS AP.
# The image tower and the class embedder (the text decoder's contrastive pass) start from a
# MaMMUT checkpoint, by default the two-pass one that tools/run_experiment.py writes; for the
# ablation point both init_cfg checkpoints elsewhere, or set them to None (random init).
# The experiment folder comes from the environment: MAMMUT_EXPERIMENT=work_dirs/experiment.
_base_ = ['../detection/mammut-tiny_ovd_toy-lvis.py']

experiment = '{{$MAMMUT_EXPERIMENT:work_dirs/experiment}}'
data_root = experiment + '/world/'
checkpoint = experiment + '/checkpoints/mammut_two-pass.pth'
classes = ('red_circle', 'green_square', 'blue_triangle', 'yellow_star', 'purple_cross',
           'orange_diamond', 'cyan_hexagon', 'brown_circle', 'pink_star', 'lime_triangle',
           'teal_square', 'magenta_hexagon')
metainfo = dict(classes=classes)
# prompts in the style of the pretraining captions ("a picture of a red circle")
templates = ('a {}', 'a picture of a {}', 'a drawing of a {}')
tokenizer = dict(type='BPETokenizer', path=data_root + 'tokenizer.json', context_length=16)

model = dict(
    vocabulary=classes,
    # GroupNorm over the whole map instead of ViTDet's per-position LayerNorm: with LN2d the
    # tiny backbone's colour information does not reach the RoI head (a linear probe on the
    # pooled pyramid features stays at chance, the box classifier at the class prior)
    neck=dict(norm_cfg=dict(type='GN', num_groups=1)),
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=checkpoint, prefix='visual.')),
    class_embedder=dict(text=dict(context_length=16), tokenizer=tokenizer, templates=templates,
                        cache_dir=experiment + '/class_embeddings',
                        init_cfg=dict(type='Pretrained', checkpoint=checkpoint,
                                      prefix='text.')))

train_dataloader = dict(
    batch_size=4, num_workers=1, persistent_workers=True,
    dataset=dict(dataset=dict(data_root=data_root, metainfo=metainfo)))
test_dataloader = dict(
    batch_size=4, num_workers=1, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo))
test_evaluator = dict(ann_file=data_root + 'annotations/lvis_v1_val.json')
# no validation while training: tools/test.py evaluates the final weights
val_dataloader = None
val_evaluator = None
val_cfg = None

max_iters = 500
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
optim_wrapper = dict(optimizer=dict(lr=4e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters,
         milestones=[int(max_iters * 0.8)], gamma=0.1),
]
default_hooks = dict(logger=dict(interval=25),
                     checkpoint=dict(interval=max_iters, max_keep_ckpts=1),
                     visualization=dict(draw=False))
randomness = dict(seed=0)
