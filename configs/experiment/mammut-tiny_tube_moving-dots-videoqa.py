# The VideoQA half of the video arm of tools/run_experiment.py --ablations: open-ended VideoQA on
# the experiment's moving-dot clips ("which way does the dot move?", "what colour is the dot?"),
# the encoder initialised from the arm's recognizer (mammut-tiny_tube_moving-dots.py; the
# stage passes its checkpoint as model.vision.init_cfg.checkpoint); the frames-only arm adds
# `model.vision.use_tubes=False`.
_base_ = ['../videoqa/mammut-tiny_tube_toy-videoqa.py']

experiment = '{{$MAMMUT_EXPERIMENT:work_dirs/experiment}}'
data_root = experiment + '/videoqa/'
tokenizer_cfg = dict(type='BPETokenizer', path=data_root + 'tokenizer.json', context_length=32)
model = dict(tokenizer=tokenizer_cfg,
             vision=dict(init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint=None)))
train_dataloader = dict(dataset=dict(ann_file=data_root + 'train_qa.json',
                                     data_prefix=dict(video=data_root + 'videos'),
                                     pipeline=[*_base_.train_pipeline[:-2],
                                               dict(_base_.tokenize, tokenizer=tokenizer_cfg),
                                               _base_.videoqa_pack]))
val_dataloader = dict(dataset=dict(ann_file=data_root + 'val_qa.json',
                                   data_prefix=dict(video=data_root + 'videos'),
                                   pipeline=[*_base_.test_pipeline[:-2],
                                             dict(_base_.tokenize, tokenizer=tokenizer_cfg),
                                             _base_.videoqa_pack]))
test_dataloader = val_dataloader
randomness = dict(seed=0)
