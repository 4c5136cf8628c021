"""Export a paper-size (default) configuration of a baseline to ONNX and validate it.

Random weights with the last linear layer scaled by SPREAD so that scores differ between
videos; validation is memo's own (PyTorch vs ONNX Runtime CPU on decoded real videos,
``../shared/videos`` when present).

    python benchmarks/baseline_default_export.py cnn-transformer 20 8   # NAME SPREAD VIDEOS
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from memo.export import export_onnx
from memo.models.bundle import save_bundle
from memo.models.registry import create_model, get_entry


def main(name: str, spread: float, videos: int) -> None:
    spec = get_entry(name).default_spec()
    torch.manual_seed(0)
    module = create_model(spec.architecture, **spec.arch_args)
    last = [m for m in module.modules() if isinstance(m, nn.Linear)][-1]
    with torch.no_grad():
        last.weight.mul_(spread)
    with tempfile.TemporaryDirectory() as tmp:
        bundle = save_bundle(Path(tmp) / name, spec, module.state_dict())
        started = time.perf_counter()
        check = export_onnx(bundle, batch="1:2:4", sample_count=videos).record["validation"]
    scores = [round(s, 4) for s in check["reference_scores"]]
    print(f"{name}: max abs diff {check['max_abs_diff']:.3g}, Spearman {check['spearman']}, "
          f"{len(check['videos'])} videos, scores {scores}, {time.perf_counter() - started:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]))
