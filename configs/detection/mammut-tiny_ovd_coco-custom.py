# The tiny MaMMUT detector fine-tuned on a COCO-format set of your own (see
# _base_/coco_custom_detection.py), for a quick look on a CPU and for the tests. It starts from
# the tiny MaMMUT that README's pretraining section trains on the toy captions (image tower and
# class embedder; use its tokenizer too), so class names the captions taught but the boxes never
# showed can still be detected by name.
_base_ = ['./mammut-tiny_ovd_toy-lvis.py', './_base_/coco_custom_detection.py']
pretrained = 'work_dirs/mammut_tiny_toy/iter_600.pth'
# prompts in the style of the toy captions ("a picture of a red circle")
templates = ('a {}', 'a picture of a {}', 'a drawing of a {}')
model = dict(
    # GroupNorm over the whole map instead of ViTDet's per-position LayerNorm: with LN2d the tiny
    # backbone's colour information does not reach the RoI head (configs/experiment/)
    neck=dict(norm_cfg=dict(type='GN', num_groups=1)),
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='visual.')),
    class_embedder=dict(templates=templates,
                        tokenizer=dict(path='data/toy_captions/tokenizer.json'),
                        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='text.')))
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, **_base_.custom_train_dataset, pipeline=_base_.train_pipeline))
val_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, **_base_.custom_val_dataset, pipeline=_base_.test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, **_base_.custom_evaluator)
test_evaluator = val_evaluator
randomness = dict(seed=0)
