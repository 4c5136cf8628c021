"""``memo train`` on several processes (memo/trainer/distributed.py, launch.py, worker.py).

Two gloo processes on the CPU, started by torchrun (``--standalone``), train a tiny clip model
(tests/ddp_model.py: no BatchNorm, no dropout) on 24 planted videos whose splits all divide
by the global batch and the two ranks. The comparison with one process is within floating-point
tolerance, not exact: the gradient all-reduce sums the two ranks' mean gradients, in another
order than one process sums the global batch, about 1e-7 relative per step, which 4 epochs at
lr 3e-2 grow to at most ~1e-5 in a prediction; we allow 1e-4 in predictions and weights, and
1e-6 in the held-out Spearman (which only moves if two predictions swap). A worker killed right
after a checkpoint (epoch 2 of the final network's 3), resumed on one process, must finish
with the same result. (Not tested: a restart under ``torchrun --max-restarts``: it resumed
correctly once here and hung once on the loaded machine; see docs/training.md.)
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import load_file
from typer.testing import CliRunner

from memo.cli.app import app
from memo.data.planted import write_planted
from memo.errors import InputError
from memo.models.bundle import read_bundle
from memo.trainer import FitConfig, TrainOptions, train
from memo.trainer.launch import Launch, check_launch, torchrun_args

from .conftest import memo_command, subprocess_env
from .ddp_model import NAME, register

TESTS = Path(__file__).parent
WORKER = """
import os, sys
sys.path.insert(0, {tests!r})
import ddp_model
ddp_model.register()
from memo.trainer import worker
stop = int(os.environ.get("STOP_AFTER_EPOCH", "0"))
first_attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") == "0"
print_epoch = worker._print_epoch
def progress(event):
    print_epoch(event)
    if stop and first_attempt and event.get("phase_index") == 1 and event.get("epoch") == stop:
        os._exit(3)  # rank 0 dies right after its checkpoint; torchrun stops (or restarts) the group
worker._print_epoch = progress
sys.exit(worker.main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def labels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    register()
    return write_planted(tmp_path_factory.mktemp("ddp"), 24, "speed", size=24, frames=16, seed=1)


def options(labels: Path, out: Path, **extra: object) -> TrainOptions:
    fit = FitConfig(epochs=4, batch_size=4, lr=3e-2, weight_decay=1e-4, patience=0, device="cpu")
    values = {
        "dataset": "csv", "data": labels, "output": out, "targets": ["score"], "model": NAME,
        "val_split": 0.25, "inner_val": 0.2, "fit": fit, "cache_dir": labels.parent / "cache",
        "plots": False, "threads": 1,
    }  # fmt: skip
    return TrainOptions(**{**values, **extra})  # type: ignore[arg-type]


def torchrun(tmp: Path, opts: TrainOptions, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    script, config = tmp / "worker.py", tmp / f"{opts.output.name}.json"
    script.write_text(WORKER.format(tests=str(TESTS)), encoding="utf-8")
    config.write_text(json.dumps(opts.to_json()), encoding="utf-8")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", *args]
    return subprocess.run(
        [*command, str(script), str(config)], env=subprocess_env(OMP_NUM_THREADS="1", **env),
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip


def outcome(out: Path) -> tuple[float, np.ndarray, dict[str, np.ndarray]]:
    metrics = json.loads((out / "metrics.json").read_text())
    with (out / "predictions.csv").open() as f:
        rows = list(csv.DictReader(f))
    held_out = np.array([float(r["score_pred"]) for r in rows if r["score_pred"]])
    assert held_out.size == 6
    weights = {k: v.numpy() for k, v in load_file(str(out / "bundle" / "weights.safetensors")).items()}
    return metrics["folds"][0]["score"]["spearman"], held_out, weights


def same(
    a: tuple[float, np.ndarray, dict[str, np.ndarray]], b: tuple[float, np.ndarray, dict[str, np.ndarray]]
) -> None:
    assert abs(a[0] - b[0]) <= 1e-6, (a[0], b[0])
    np.testing.assert_allclose(a[1], b[1], atol=1e-4)
    assert a[2].keys() == b[2].keys()
    for key in a[2]:
        np.testing.assert_allclose(a[2][key], b[2][key], atol=1e-4, err_msg=key)


def test_two_processes_match_one_and_a_killed_run_resumes_on_one(labels: Path, tmp_path: Path) -> None:
    one = train(options(labels, tmp_path / "one"))
    assert one.metrics["folds"][0]["score"]["spearman"] > 0.5  # it learns the planted speed

    done = torchrun(tmp_path, options(labels, tmp_path / "two"))
    assert done.returncode == 0, done.stderr[-3000:]
    same(outcome(tmp_path / "one"), outcome(tmp_path / "two"))
    assert not (tmp_path / "two" / "checkpoint" / "state.json.tmp").exists()

    killed = torchrun(tmp_path, options(labels, tmp_path / "killed"), STOP_AFTER_EPOCH="2")
    assert killed.returncode != 0
    state = json.loads((tmp_path / "killed" / "checkpoint" / "state.json").read_text())
    assert state["current"]["phase"] == "final/m0" and state["current"]["fit"]["epoch"] == 2
    resumed = train(options(labels, tmp_path / "killed", resume=True))
    assert resumed.metrics["final_model"] == {
        **one.metrics["final_model"],
        "members": resumed.metrics["final_model"]["members"],
    }
    same(outcome(tmp_path / "one"), outcome(tmp_path / "killed"))


def test_options_are_refused_before_any_worker_starts(labels: Path, tmp_path: Path) -> None:
    base = options(labels, tmp_path / "run")
    with pytest.raises(InputError, match="global batch and must divide by the 4 processes"):
        check_launch(replace(base, fit=replace(base.fit, batch_size=6)), Launch(2, 2, 0, "host:29400"))
    with pytest.raises(InputError, match="needs --rdzv-endpoint"):
        check_launch(base, Launch(2, nnodes=2))
    done = CliRunner().invoke(
        app, ["train", "csv", str(labels), "-o", str(tmp_path / "vec"), "--target", "score", "--text-column",
              "path", "--nproc-per-node", "2"], env={"COLUMNS": "300"},
    )  # fmt: skip
    assert done.exit_code == 2, done.output
    assert "trains single-process: a vector head trains in seconds" in done.output
    assert not (tmp_path / "vec").exists()
    args = torchrun_args(Launch(4, 2, 1, "head:29400", max_restarts=3), Path("o.json"))
    assert "--rdzv-endpoint=head:29400" in args and "--node-rank=1" in args and "--max-restarts=3" in args
    assert args[-3:] == ["-m", "memo.trainer.worker", "o.json"]


def test_nproc_per_node_starts_the_workers_and_the_bundle_loads(labels: Path, tmp_path: Path) -> None:
    out = tmp_path / "r3d"
    args = ["train", "csv", str(labels), "-o", str(out), "-t", "score", "-m", "resnet3d", "--epochs", "2",
            "-b", "4", "--device", "cpu", "--cache-dir", str(labels.parent / "cache"), "--no-plots",
            "--inner-val", "0.2", "--patience", "0"]  # fmt: skip
    args += [f"--model-arg={a}" for a in ("num_frames=8", "fps=16", "size=16", "width=4", "layers=[1,1,1,1]")]
    done = subprocess.run(
        [*memo_command(), *args, "--nproc-per-node", "2"], env=subprocess_env(COLUMNS="300"),
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "trained on 2 processes" in " ".join(done.stderr.split())  # the command's summary (rich: stderr)
    assert json.loads((out / "metrics.json").read_text())["final_model"]["epochs"] == 2
    read_bundle(out / "bundle").build_module()  # loads strictly
    assert sorted(p.name for p in (out / "checkpoint").iterdir()) == ["state.json"]  # rank 0 cleaned up
