# The video arm of tools/run_experiment.py --ablations: the tiny MaMMUTTubeViT recognizer on the
# experiment's moving-dot clips (two classes told apart only by the direction of motion), from
# scratch; the frames-only arm is the same run with `model.backbone.use_tubes=False`.
#   MAMMUT_EXPERIMENT=work_dirs/experiment python tools/train.py \
#       configs/experiment/mammut-tiny_tube_moving-dots.py --work-dir work_dirs/experiment/video_x
_base_ = ['../video/tube_mammut_tiny_toy.py']

experiment = '{{$MAMMUT_EXPERIMENT:work_dirs/experiment}}'
data_root = experiment + '/video'
train_dataloader = dict(dataset=dict(ann_file=data_root + '/train.txt',
                                     data_prefix=dict(video=data_root + '/videos')))
val_dataloader = dict(dataset=dict(ann_file=data_root + '/val.txt',
                                   data_prefix=dict(video=data_root + '/videos')))
test_dataloader = val_dataloader
randomness = dict(seed=0)
