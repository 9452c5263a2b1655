#!/usr/bin/env bash
# The one test command, shared by `make test`, pre-commit and CI (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
export MPLBACKEND=Agg WANDB_MODE=offline WANDB_SILENT=true
bash scripts/lint.sh
# --cov: the line coverage of src/simrnn, printed per module (fully covered ones left out) and in total
"$VENV/bin/pytest" -n 2 --cov --cov-report=term "$@"
