# Runtime of generative fine-tuning and evaluation (MaMMUTGenerator: captioning, VQA): the
# iteration-based runtime without the two-pass schedule hook (only the generative pass runs).
# Fine-tune from a MaMMUT pretraining checkpoint or a converted openMaMMUT one with
# `load_from = CKPT` (or `--cfg-options load_from=CKPT`): the generator has MaMMUT's keys.
_base_ = ['./iter_runtime.py']
