#!/usr/bin/env bash
# Create .venv and install memo (idempotent; safe to re-run).
#
#   bash scripts/setup.sh          what a user needs to score videos: memo[score] (the default
#                                  model's weights, Parquet, ONNX Runtime); no DALI, no dev tools
#   bash scripts/setup.sh --dev    everything CI and development use: memo[dev] (all CPU extras,
#                                  DALI, pytest, ruff)
#
# torch/torchvision are pinned to the builds this project is tested with; on machines with a
# local wheel cache (ours) pip installs them from disk. Set TORCH_INDEX_URL (for example
# https://download.pytorch.org/whl/cpu) to take them from another index, such as PyTorch's
# CPU-only wheels, which leave out the ~4 GB of CUDA libraries.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRA=score
case "${1:-}" in
  --dev) EXTRA=dev ;;
  "") ;;
  *) echo "usage: bash scripts/setup.sh [--dev]" >&2; exit 2 ;;
esac
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip install -q --disable-pip-version-check)
if [ -n "${TORCH_INDEX_URL:-}" ]; then
  "${PIP[@]}" --index-url "$TORCH_INDEX_URL" "torch==2.14.1" "torchvision==0.29.1"
else
  "${PIP[@]}" "torch==2.14.1" "torchvision==0.29.1"
fi
"${PIP[@]}" -e ".[$EXTRA]"
