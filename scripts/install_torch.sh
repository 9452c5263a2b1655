#!/usr/bin/env bash
# Install PyTorch into the given interpreter's environment, choosing a sensible build.
#   CPU-only machine (no nvidia-smi): torch==$SIMRNN_CPU_TORCH (default 2.13.0). Where a local
#     CPU wheel exists (as on our build machines) pip takes it; elsewhere set
#     PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu to avoid the multi-GB CUDA build.
#   GPU machine: the default PyPI build (CUDA).
# Already-installed torch is left alone, so a GPU user's own build is never replaced.
set -euo pipefail
PY="${1:-python3}"
if "$PY" -c "import torch" 2>/dev/null; then
  echo "torch $("$PY" -c 'import torch; print(torch.__version__)') already installed"
  exit 0
fi
if command -v nvidia-smi >/dev/null 2>&1; then
  "$PY" -m pip install -q "torch>=2.4"
else
  "$PY" -m pip install -q "torch==${SIMRNN_CPU_TORCH:-2.13.0}"
fi
