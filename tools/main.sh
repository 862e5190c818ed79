#!/usr/bin/env bash
# The main job: install into .venv if needed, then the miniature open-vocabulary experiment
# (tools/run_experiment.py): draw a world of shapes, two-pass MaMMUT pretraining, detector
# fine-tuning on the base classes (and the contrastive-only / random-init ablation), LVIS box AP
# through tools/test.py, tools/infer.py on held-out images; toy VQA in the same world fine-tuned
# from two-pass, contrastive-only, generative-only and random initialisation (official VQA
# accuracy), greedy captions; and a report in work_dirs/experiment/report.md. Running it again
# reuses the finished stages.
# Extra arguments go to run_experiment.py (e.g. --quick for the few-minute setting).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install.sh
.venv/bin/python tools/run_experiment.py "$@"
