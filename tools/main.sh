#!/usr/bin/env bash
# The main job on its small built-in default: install into .venv if needed, draw the toy
# image-caption set, run two-pass MaMMUT pretraining of the tiny preset on it (losses in the
# log) and say where the checkpoint went. Running it again reuses the data and the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install.sh
.venv/bin/python tools/make_toy_captions.py data/toy_captions
.venv/bin/python tools/train.py configs/pretrain/mammut_tiny_toy.py \
  --work-dir work_dirs/mammut_tiny_toy "$@"
