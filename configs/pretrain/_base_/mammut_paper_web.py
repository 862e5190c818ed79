# MaMMUT's pretraining recipe on WebDataset shards, all but the model: the paper's schedule and
# augmentation, equal loss weights with the pass order shuffled every step, CPE from step 500K,
# 64-token captions (CLIP's BPE). A model config inherits this next to a model preset and sets
# the paper's text length and initial temperature (see mammut_b16_web.py).
_base_ = ['../../_base_/datasets/web_shards.py', '../../_base_/schedules/pretrain_paper_adamw.py',
          '../../_base_/pretrain_runtime.py']
context_length = 64
paper_tokenizer = dict(type='CLIPTokenizer', context_length=context_length)
train_dataloader = dict(dataset=dict(tokenizer=paper_tokenizer))
default_hooks = dict(checkpoint=dict(interval=5000, max_keep_ckpts=3), logger=dict(interval=50))
custom_hooks = [
    dict(type='TwoPassScheduleHook', weights=dict(contrastive=1.0, generative=1.0), shuffle=True,
         cpe_begin={{_base_.cpe_begin}}),
    dict(type='ShardStreamHook', interval=500),
]
