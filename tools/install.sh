#!/usr/bin/env bash
# Install mammut_det and its pinned stack into a local virtual environment.
#
#   bash tools/install.sh                  CPU: torch 2.13.0, mmcv 2.1.0 with its C++ ops, numpy 2
#                                          (what CI tests; .venv)
#   bash tools/install.sh --numpy1         the same stack with numpy < 2 (CI's second pass;
#                                          .venv-numpy1)
#   bash tools/install.sh --cuda-prebuilt [cu121|cu118]
#                                          GPU: torch 2.1.2 + CUDA 12.1 or 11.8, OpenMMLab's
#                                          prebuilt mmcv 2.1.0 wheel, numpy < 2 (.venv)
#   bash tools/install.sh --cuda-source [CUDA_TAG]
#                                          GPU: torch 2.13.0 with CUDA (from PyPI, or from
#                                          https://download.pytorch.org/whl/CUDA_TAG), mmcv 2.1.0
#                                          built from source with FORCE_CUDA=1; needs nvcc (.venv)
#
#   VENV=path   where the environment lives        PYTHON=python3.11   interpreter to build it
#   MMCV_WHEELS=dir   extra --find-links for a prebuilt CPU mmcv 2.1.0 wheel (../shared/wheels is
#   used when present); without one, mmcv 2.1.0 is built from source with its ops (~40 min).
#   MAX_JOBS=n   parallel compile jobs of a source build of mmcv.
# Safe to run again: it does nothing when this script, requirements*.txt, setup.cfg and
# pyproject.toml are unchanged. An environment keeps the path it was made for.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=cpu
tag=
case "${1:-}" in
  '') ;;
  --numpy1) mode=numpy1 ;;
  --cuda-prebuilt) mode=cuda-prebuilt; tag=${2:-cu121} ;;
  --cuda-source) mode=cuda-source; tag=${2:-} ;;
  -h|--help) awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0"; exit 0 ;;
  *) echo "install.sh: unknown option $1 (see bash tools/install.sh --help)" >&2; exit 2 ;;
esac
if [ "$mode" = cuda-prebuilt ] && [ "$tag" != cu121 ] && [ "$tag" != cu118 ]; then
  echo "install.sh: --cuda-prebuilt takes cu121 or cu118 (OpenMMLab's torch 2.1 wheels), got $tag" >&2
  exit 2
fi
default_venv=.venv
[ "$mode" = numpy1 ] && default_venv=.venv-numpy1
VENV=${VENV:-$default_venv}
PYTHON=${PYTHON:-python3}

stamp="$VENV/.mammut_det-install"
want="$mode $tag $(cat tools/install.sh requirements.txt requirements-nodeps.txt setup.cfg \
  pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ]; then
  [ "$(cat "$stamp")" = "$want" ] && exit 0
  made_for=$(cut -d' ' -f1 "$stamp")
  case "$made_for" in cpu|numpy1|cuda-prebuilt|cuda-source) ;; *) made_for=cpu ;; esac
  if [ "$made_for" != "$mode" ]; then
    echo "install.sh: $VENV was installed for '$made_for', not '$mode': remove it or choose" \
      "another VENV=" >&2
    exit 2
  fi
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip)

# Pins that every later pip call keeps (pip resolves each call on its own).
constraints="$VENV/mammut_det-constraints.txt"
case "$mode" in
  cpu|cuda-source) grep -E '^torch==' requirements.txt > "$constraints" ;;
  numpy1) { grep -E '^torch==' requirements.txt; echo 'numpy<2'; } > "$constraints" ;;
  cuda-prebuilt) printf 'torch==2.1.2\nnumpy<2\n' > "$constraints" ;;
esac
C=(-c "$constraints")

# mmcv's setup.py imports pkg_resources (gone in setuptools 81) and torch: both come first.
"${PIP[@]}" install -q "${C[@]}" 'setuptools>=77,<81' wheel
links=()
case "$mode" in
  cpu|numpy1)
    for d in ${MMCV_WHEELS:-} ../shared/wheels; do
      [ -d "$d" ] && links+=(--find-links "$d")
    done
    "${PIP[@]}" install -q "${C[@]}" torch
    MMCV_WITH_OPS=1 FORCE_CUDA=0 "${PIP[@]}" install -q "${C[@]}" --no-build-isolation \
      "${links[@]}" mmcv==2.1.0
    ;;
  cuda-prebuilt)
    "${PIP[@]}" install -q "${C[@]}" torch --index-url "https://download.pytorch.org/whl/$tag"
    links=(--find-links "https://download.openmmlab.com/mmcv/dist/$tag/torch2.1/index.html")
    "${PIP[@]}" install -q "${C[@]}" --only-binary mmcv "${links[@]}" mmcv==2.1.0
    ;;
  cuda-source)
    index=()
    [ -n "$tag" ] && index=(--index-url "https://download.pytorch.org/whl/$tag")
    "${PIP[@]}" install -q "${C[@]}" "${index[@]}" torch
    if ! "$VENV/bin/python" -c 'import sys, torch; sys.exit(torch.version.cuda is None)'; then
      echo "install.sh: the torch in $VENV is a CPU build; name a CUDA wheel index, e.g." \
        "--cuda-source cu128 (https://download.pytorch.org/whl/cu128)" >&2
      exit 1
    fi
    if ! command -v nvcc >/dev/null && [ ! -x "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc" ]; then
      echo "install.sh: building mmcv's CUDA ops needs nvcc (a CUDA toolkit matching" \
        "torch.version.cuda); set CUDA_HOME or put nvcc on PATH" >&2
      exit 1
    fi
    # --no-cache-dir: never reuse a CPU-only mmcv wheel that pip built and cached earlier
    MMCV_WITH_OPS=1 FORCE_CUDA=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} "${PIP[@]}" install -q "${C[@]}" \
      --no-build-isolation --no-binary mmcv --no-cache-dir mmcv==2.1.0
    ;;
esac
# torch is pinned by the constraints (requirements.txt names the CPU path's)
"${PIP[@]}" install -q "${C[@]}" "${links[@]}" -r <(grep -v -E '^torch==' requirements.txt)
# open_clip_torch only for CLIP's vocabulary file; its dependencies (torchvision, timm) are not
# needed and would replace torch.
"${PIP[@]}" install -q --no-deps -r requirements-nodeps.txt
"${PIP[@]}" install -q --no-deps --no-build-isolation -e .
echo "$want" > "$stamp"
echo "mammut_det installed in $VENV ($mode${tag:+ $tag})"
