#!/usr/bin/env bash
# Install mammut_det and its pinned stack into a local virtual environment (default .venv).
# Safe to run again: it does nothing when requirements.txt and setup.cfg are unchanged.
#   VENV=path   where the environment lives        PYTHON=python3.11   interpreter to build it
#   MMCV_WHEELS=dir   extra --find-links for a prebuilt mmcv 2.1.0 wheel (../shared/wheels is
#   used when present); without one, mmcv 2.1.0 is built from source with its ops (~40 min).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip)
stamp="$VENV/.mammut_det-install"
want=$(cat requirements.txt setup.cfg pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
links=()
for d in ${MMCV_WHEELS:-} ../shared/wheels; do
  [ -d "$d" ] && links+=(--find-links "$d")
done
# mmcv's setup.py imports pkg_resources (gone in setuptools 81) and torch: both come first.
"${PIP[@]}" install -q 'setuptools>=77,<81' wheel "$(grep -E '^torch==' requirements.txt)"
MMCV_WITH_OPS=1 FORCE_CUDA=0 "${PIP[@]}" install -q --no-build-isolation "${links[@]}" \
  "$(grep -E '^mmcv==' requirements.txt)"
"${PIP[@]}" install -q "${links[@]}" -r requirements.txt
"${PIP[@]}" install -q --no-deps --no-build-isolation -e .
echo "$want" > "$stamp"
echo "mammut_det installed in $VENV"
