#!/usr/bin/env bash
# Install mammut_det into .venv if needed, then run the linter and the test suite.
# Extra arguments go to pytest, e.g. `bash tools/run_tests.sh -k detection`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install.sh
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
