# MaMMUT B/16 pretrained with the paper's recipe (configs/pretrain/_base_/mammut_paper_web.py)
# on a LAION/DataComp-style folder of WebDataset shards, under DDP (the normal Runner):
#   bash tools/dist_train.sh configs/pretrain/mammut_b16_web.py 8 --cfg-options \
#       'train_dataloader.dataset.shards=/data/datacomp/{00000000..00139999}.tar'
# Contrastive loss with local_loss (each GPU its rows of the global matrix; same gradients).
# Global batch 16K over any number of GPUs: 16384 / (GPUs x batch_size) passes are accumulated
# per step (GlobalBatchTrainLoop). FSDP: mammut_b16_web_fsdp.py; DeepSpeed: *_deepspeed.py.
_base_ = ['../_base_/models/mammut_b16.py', './_base_/mammut_paper_web.py']
model = dict(init_temperature=1.0, local_loss=True,
             text=dict(context_length={{_base_.context_length}}),
             tokenizer={{_base_.paper_tokenizer}})
train_dataloader = dict(batch_size=256)
