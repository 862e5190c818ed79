# Zero-shot Kinetics-400 with a MaMMUT B/16 pretraining checkpoint and no video training: the
# clip feature (tube backbone, `visual.*` weights, tubes inflated from the patch kernel, gate 0)
# is scored against text embeddings of the 400 class names (`text.*` weights, video prompts).
#   python tools/test.py configs/video/tube_mammut_b16_k400_zeroshot.py CHECKPOINT
# with `mammut_checkpoint` below (or both `model.backbone.pretrained` and
# `model.cls_head.embedder.checkpoint` in --cfg-options) set to the pretraining checkpoint.
# `label_map` holds one class name per line, in label order (mmaction2's label_map_k400.txt).
_base_ = ['./tube_mammut_b16_k400.py']
mammut_checkpoint = 'work_dirs/mammut_b16/iter_100000.pth'
label_map = 'data/kinetics400/label_map_k400.txt'
model = dict(
    backbone=dict(pretrained=mammut_checkpoint),
    cls_head=dict(
        _delete_=True, type='OpenVocabClsHead', in_channels=512, class_names=label_map,
        embedder=dict(text={{_base_.mammut_text}}, tokenizer={{_base_.mammut_tokenizer}},
                      checkpoint=mammut_checkpoint, prefix='text.'),
        temperature=0.01, average_clips='prob'))
