"""Training throughput (clips/s) of a small video model on 1 and 2 processes of this machine.

Side by side in one run, on the same planted videos and a warm frame cache: ``memo train``
with one process and 1 thread, one process and 2 threads, and ``--nproc-per-node 2`` (gloo,
1 thread each). The figure is the final network's ``clips_per_second`` from ``metrics.json``
(the global rate: all the items of an epoch over its wall time, validation pass included).
No protocol (no --val-split): one network, trained with early stopping on the inner
validation split, patience 0 (off), so every run trains every epoch.

    python benchmarks/train_ddp.py              # 96 videos, resnet3d width 16, 8 epochs
    python benchmarks/train_ddp.py 128 6        # VIDEOS EPOCHS

``--folds``: a 4-fold cross-validated run of a small model (resnet3d width 4) on 1 process and
on 2 processes with each ``--distribute`` mode; the figure is the run's ``seconds`` from
``metrics.json`` (the whole protocol and the final network, on a warm frame cache).

    python benchmarks/train_ddp.py --folds      # 96 videos, 4 folds, 4 epochs
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from memo.data.planted import write_planted

MODEL = ["--model", "resnet3d"] + [
    f"--model-arg={a}" for a in ("num_frames=8", "fps=16", "size=32", "width=16", "layers=[1,1,1,1]")
]


def run(labels: Path, out: Path, epochs: int, extra: list[str], field: str = "clips_per_second") -> float:
    command = [sys.executable, "-m", "memo", "train", "csv", str(labels), "-o", str(out), "--target", "score",
               *MODEL, "--epochs", str(epochs), "--batch-size", "8", "--lr", "0.03",
               "--patience", "0", "--device", "cpu", "--cache-dir", str(labels.parent / "cache"), "--no-plots",
               "--quiet", *extra]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    subprocess.run(command, check=True, env=env)
    metrics = json.loads((out / "metrics.json").read_text())
    if field == "seconds":
        return float(metrics["seconds"])
    return float(metrics["final_model"]["members"][0][field])


def main(videos: int, epochs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        labels = write_planted(Path(tmp) / "data", videos, "speed", size=40, seed=1)
        run(labels, Path(tmp) / "warm", 1, ["--threads", "1"])  # fills the frame cache
        rows = {
            "1 process x 1 thread": run(labels, Path(tmp) / "p1t1", epochs, ["--threads", "1"]),
            "1 process x 2 threads": run(labels, Path(tmp) / "p1t2", epochs, ["--threads", "2"]),
            "2 processes x 1 thread": run(labels, Path(tmp) / "p2t1", epochs, ["--threads", "1", "--nproc-per-node", "2"]),
        }  # fmt: skip
    base = rows["1 process x 1 thread"]
    for name, rate in rows.items():
        print(f"{name}: {rate:.1f} clips/s ({rate / base:.2f}x)")


def main_folds(videos: int = 96, epochs: int = 4) -> None:
    """Seconds of a 4-fold run of a small model: 1 process, 2 with DDP per network, 2 with a fold each."""
    small = ["--model-arg=width=4", "--folds", "4", "--threads", "1"]
    with tempfile.TemporaryDirectory() as tmp:
        labels = write_planted(Path(tmp) / "data", videos, "speed", size=40, seed=1)
        run(labels, Path(tmp) / "warm", 1, ["--threads", "1"])  # fills the frame cache
        rows = {
            "1 process": run(labels, Path(tmp) / "one", epochs, small, "seconds"),
            "2 processes, --distribute batches": run(
                labels, Path(tmp) / "batches", epochs, [*small, "--nproc-per-node", "2", "--distribute", "batches"],
                "seconds",
            ),
            "2 processes, --distribute folds": run(
                labels, Path(tmp) / "folds", epochs, [*small, "--nproc-per-node", "2", "--distribute", "folds"],
                "seconds",
            ),
        }  # fmt: skip
    base = rows["1 process"]
    for name, seconds in rows.items():
        print(f"{name}: {seconds:.1f} s ({base / seconds:.2f}x the speed of 1 process)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--folds"]:
        main_folds(*[int(a) for a in sys.argv[2:]])
    else:
        args = [int(a) for a in sys.argv[1:]]
        main(*(args + [96, 8][len(args) :]))
