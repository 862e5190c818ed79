#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: run the two-pass MaMMUT step (B/16), a detector forward with
# mmcv's CUDA RoIAlign and NMS, and decord decoding, each on the GPU and on the CPU, and print the
# speed-ups (tools/check_gpu.py). Without a GPU it says so and exits 2.
#   bash tools/check_gpu.sh [--preset b16|tiny] [--repeats 3]      VENV=path (default .venv)
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${VENV:-.venv}/bin/python" tools/check_gpu.py "$@"
