#!/usr/bin/env bash
# The one lint command, shared by pre-commit, `make lint` and scripts/test.sh (CI).
set -euo pipefail
cd "$(dirname "$0")/.."
"${VENV:-.venv}/bin/ruff" check src tests benchmarks
