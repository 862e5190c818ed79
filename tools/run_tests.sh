#!/usr/bin/env bash
# Install mammut_det if needed, then run the linter and the test suite.
#   bash tools/run_tests.sh [PYTEST_ARGS...]             in .venv (numpy 2), e.g. -k detection
#   bash tools/run_tests.sh --numpy1 [PYTEST_ARGS...]    in .venv-numpy1 (the same stack with
#                                                        numpy < 2), e.g. -m "not slow"
set -euo pipefail
cd "$(dirname "$0")/.."
install=()
venv=${VENV:-.venv}
if [ "${1:-}" = --numpy1 ]; then
  install=(--numpy1)
  venv=${VENV:-.venv-numpy1}
  shift
fi
VENV=$venv bash tools/install.sh "${install[@]}"
bash tools/install_java.sh     # pycocoevalcap's tokenizer and METEOR (apt; skipped if present)
bash tools/install_browser.sh  # Chromium for the web demo's browser test (apt; skipped if present)
"$venv/bin/ruff" check .
"$venv/bin/python" -m pytest "$@"
