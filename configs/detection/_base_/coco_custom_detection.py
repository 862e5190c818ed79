# A COCO-format detection set of your own, with your own class names, for open-vocabulary
# fine-tuning. The classes are the categories of each annotation file (CocoOVDataset), so a
# validation file may name classes that the training file lacks (novel classes, scored with the
# VLM score's novel weight). Expected layout (change the paths below or with --cfg-options):
#   data/custom/annotations/train.json   COCO format: images, annotations (bbox x, y, w, h),
#   data/custom/annotations/val.json     categories with the class names ("red car", "mug", ...)
#   data/custom/images/...               each image's file_name is relative to this folder
# The pieces below go into a preset's dataloaders (see mammut-b16_ovd_coco-custom.py), with the
# preset's pipelines.
custom_data_root = 'data/custom/'
custom_train_dataset = dict(
    type='CocoOVDataset', data_root=custom_data_root, ann_file='annotations/train.json',
    data_prefix=dict(img='images/'), filter_cfg=dict(filter_empty_gt=True, min_size=0))
custom_val_dataset = dict(
    type='CocoOVDataset', data_root=custom_data_root, ann_file='annotations/val.json',
    data_prefix=dict(img='images/'), test_mode=True)
# COCO box AP, and AP per class (classwise) so that novel classes can be read off
custom_evaluator = dict(type='CocoMetric', ann_file=custom_data_root + 'annotations/val.json',
                        metric='bbox', classwise=True)
