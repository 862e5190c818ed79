# Open-ended VQA on the shapes world's toy questions ("what colour is the star?", "how many
# circles are there?", "what shape is the red object?"; tools/run_experiment.py writes them to
# <experiment>/vqa/ in the VQAv2 layout) with the tiny MaMMUTGenerator, fine-tuned from each
# pretraining checkpoint of the experiment (load_from) or from random weights, same seed and
# schedule; tools/test.py then gives the official VQA accuracy on the val questions.
# The model is the pretraining one (the world's tokenizer, a context of 16 ids).
#   MAMMUT_EXPERIMENT=work_dirs/experiment python tools/train.py \
#       configs/experiment/mammut-tiny_vqa_shapes-world.py --work-dir work_dirs/experiment/vqa_x \
#       --cfg-options load_from=work_dirs/experiment/checkpoints/mammut_two-pass.pth
_base_ = ['../vqa/mammut-tiny_toy-vqa.py']

experiment = '{{$MAMMUT_EXPERIMENT:work_dirs/experiment}}'
data_root = experiment + '/vqa/'
tokenizer_cfg = dict(type='BPETokenizer', path=experiment + '/world/tokenizer.json',
                     context_length=16)
model = dict(tokenizer=tokenizer_cfg, text=dict(context_length=16))
train_dataloader = dict(num_workers=1, dataset=dict(data_root=data_root))
test_dataloader = dict(num_workers=0, persistent_workers=False,
                       dataset=dict(data_root=data_root))
# no validation while training: tools/test.py evaluates the final weights
val_dataloader = None
val_evaluator = None
val_cfg = None

max_iters = 400
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=40),
    dict(type='CosineAnnealingLR', T_max=max_iters - 40, by_epoch=False, begin=40,
         end=max_iters, eta_min_ratio=0.05),
]
default_hooks = dict(logger=dict(interval=25),
                     checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
randomness = dict(seed=0)
