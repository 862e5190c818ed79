# MaMMUT B/16 fine-tuned for open-ended VideoQA on MSVD-QA (paper: 60.2); everything as
# mammut-b16_tube_msrvtt-qa.py but the data: {train,val,test}_qa.json with integer video ids,
# the YouTube clips renamed vid{id}.avi after MSVD-QA's youtube_mapping.txt. Layout:
#   data/msvd_qa/{train,val,test}_qa.json    data/msvd/videos/vid1.avi ...
#   bash tools/dist_train.sh configs/videoqa/mammut-b16_tube_msvd-qa.py 8 \
#       --cfg-options model.vision.pretrained=PRETRAIN.pth load_from=PRETRAIN.pth
_base_ = ['./mammut-b16_tube_msrvtt-qa.py']
ann_root = 'data/msvd_qa/'
videoqa = dict(data_prefix=dict(video='data/msvd/videos'), video_pattern='vid{}.avi')
train_dataloader = dict(dataset=dict(videoqa, ann_file=ann_root + 'train_qa.json'))
val_dataloader = dict(dataset=dict(videoqa, ann_file=ann_root + 'val_qa.json'))
test_dataloader = dict(dataset=dict(videoqa, ann_file=ann_root + 'test_qa.json'))
