# MaMMUT L/14 pretrained with the paper's recipe on WebDataset shards, DDP; see mammut_b16_web.py.
_base_ = ['../_base_/models/mammut_l14.py', './_base_/mammut_paper_web.py']
model = dict(init_temperature=1.0, local_loss=True,
             text=dict(context_length={{_base_.context_length}}),
             tokenizer={{_base_.paper_tokenizer}})
train_dataloader = dict(batch_size=128)
