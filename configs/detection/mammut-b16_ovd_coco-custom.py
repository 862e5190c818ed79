# MaMMUT B/16 open-vocabulary detector fine-tuned on a COCO-format set of your own, with your own
# class names (dataset pieces and layout: _base_/coco_custom_detection.py). The model, the 1024 px
# large-scale jitter and the optimizer are those of the LVIS preset; the classes come from the
# annotation files, and names absent from training can be asked for at test time (their VLM score
# weighs 0.65, F-VLM's novel weight). Point to your MaMMUT B/16 pretraining checkpoint with
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH \
#                 model.class_embedder.init_cfg.checkpoint=PATH
_base_ = ['./mammut-b16_ovd_lvis-v1-base_1024.py', './_base_/coco_custom_detection.py']

train_dataloader = dict(
    dataset=dict(_delete_=True, **_base_.custom_train_dataset, pipeline=_base_.train_pipeline))
val_dataloader = dict(
    dataset=dict(_delete_=True, **_base_.custom_val_dataset, pipeline=_base_.test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, **_base_.custom_evaluator)
test_evaluator = val_evaluator

# a shorter schedule than LVIS's 46.1k iterations (batch 64: 16 workers x 4); scale it with the
# size of your set, the steps stay at 88% and 96%
max_iters = 10000
train_cfg = dict(max_iters=max_iters, val_interval=2000)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters,
         milestones=[int(max_iters * 0.88), int(max_iters * 0.96)], gamma=0.1),
]
default_hooks = dict(checkpoint=dict(interval=2000))
