# MaMMUT B/16 fine-tuned for video captioning on MSVD (paper: CIDEr 195.6); everything as
# mammut-b16_tube_msrvtt-caption.py but the data: MSVD's English descriptions as
# "clip_name caption" lines (AllVideoDescriptions.txt), one file per split of the standard
# 1,200 / 100 / 670 clips, and the YouTube clips themselves:
#   data/msvd/annotations/{train,val,test}.txt    data/msvd/videos/-4wsuPCjDBc_5_15.avi ...
#   bash tools/dist_train.sh configs/video_captioning/mammut-b16_tube_msvd-caption.py 8 \
#       --cfg-options model.vision.pretrained=PRETRAIN.pth load_from=PRETRAIN.pth
_base_ = ['./mammut-b16_tube_msrvtt-caption.py']
ann_root = 'data/msvd/annotations/'
captions = dict(data_prefix=dict(video='data/msvd/videos'), video_pattern='{}.avi', split=None)
train_dataloader = dict(dataset=dict(captions, ann_file=ann_root + 'train.txt'))
val_dataloader = dict(dataset=dict(captions, ann_file=ann_root + 'val.txt'))
test_dataloader = dict(dataset=dict(captions, ann_file=ann_root + 'test.txt'))
test_evaluator = dict(results_file='work_dirs/msvd_test_captions.json')
