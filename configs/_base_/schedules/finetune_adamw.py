# Generative fine-tuning of a pretrained MaMMUT (captioning, VQA): AdamW without decay on norms
# and biases, gradients clipped at 1; lr 1e-5 for a global batch of 256 (`--auto-scale-lr`
# rescales it to the real one). A dataset base sets the length (`train_cfg`) and the lr curve.
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-5, betas=(0.9, 0.999),
                                    weight_decay=0.05),
                     clip_grad=dict(max_norm=1.0),
                     paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))
auto_scale_lr = dict(enable=False, base_batch_size=256)
