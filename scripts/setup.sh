#!/usr/bin/env bash
# Create .venv and install memo with every CPU extra (idempotent; safe to re-run).
# torch/torchvision are pinned to the builds this project is tested with; on machines
# with a local wheel cache (ours) pip installs them from disk.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check "torch==2.14.1" "torchvision==0.29.1"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev]"
