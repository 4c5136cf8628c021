"""``memo train`` on several processes (memo/trainer/distributed.py, launch.py, worker.py).

Two gloo processes on the CPU, started by torchrun (``--standalone``), train a tiny clip model
(tests/ddp_model.py: no BatchNorm, no dropout) on 24 planted videos whose splits all divide
by the global batch and the two ranks. The comparison with one process is within floating-point
tolerance, not exact: the gradient all-reduce sums the two ranks' mean gradients, in another
order than one process sums the global batch, about 1e-7 relative per step, which 4 epochs at
lr 3e-2 grow to at most ~1e-5 in a prediction; we allow 1e-4 in predictions and weights, and
1e-6 in the held-out Spearman (which only moves if two predictions swap). A worker killed right
after a checkpoint (epoch 2 of the final network's 3), resumed on one process, must finish
with the same result. A worker SIGKILLed in the middle of an epoch under ``torchrun
--max-restarts 1`` must be restarted and resume by itself, every epoch of every network in the
history once. With the folds dealt out to the ranks (``--distribute folds``), each fold's
network is trained single-process with the same seed as on one process, so its predictions and
Spearman must equal one process's (allowed: 1e-6 in a prediction, 1e-9 in Spearman, for the
thread scheduling of the CPU kernels; both sides run one thread).

Every torchrun runs under a hard timeout in its own session, its whole process group killed
when the timeout strikes, with the output going to files, not pipes (a worker left behind
would hold a pipe open and hang the test).
"""

from __future__ import annotations

import csv
import json
import os
import signal
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
import signal
from memo.trainer import video_fit
from memo.trainer.checkpoint import Checkpoint
stop = int(os.environ.get("STOP_AFTER_EPOCH", "0"))
first_attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") == "0"
print_epoch = worker._print_epoch
def progress(event):
    print_epoch(event)
    if stop and first_attempt and event.get("phase_index") == 1 and event.get("epoch") == stop:
        os._exit(3)  # rank 0 dies right after its checkpoint; torchrun stops (or restarts) the group
worker._print_epoch = progress
# KILL_AT=phase:epoch:rank: that rank is SIGKILLed after its first optimizer step past the
# checkpoint of that epoch, i.e. in the middle of the next epoch (first attempt only)
kill_at = os.environ.get("KILL_AT", "").split(":") if first_attempt else []
last = {{}}
save_epoch, step = Checkpoint.save_epoch, video_fit._step
def saving(self, phase, model, optimizer, state, best, generator):
    save_epoch(self, phase, model, optimizer, state, best, generator)
    last["at"] = [phase, str(state.epoch), os.environ["RANK"]]
def stepping(model, optimizer, cfg):
    step(model, optimizer, cfg)
    if kill_at and last.get("at") == kill_at:
        print(f"killing rank {{kill_at[2]}} in epoch {{int(kill_at[1]) + 1}} of {{kill_at[0]}}", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
Checkpoint.save_epoch, video_fit._step = saving, stepping
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


def bounded(
    command: list[str], env: dict[str, str], log: Path, timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in its own session; past ``timeout`` its whole process group is killed and
    the test fails (CI never hangs on a stuck worker). Output through files, never pipes."""
    with (
        (log.parent / f"{log.name}.out").open("w+") as out,
        (log.parent / f"{log.name}.err").open("w+") as err,
    ):
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=err, text=True, start_new_session=True)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # torchrun's agent and the workers it started
            proc.wait()
            err.seek(0)
            pytest.fail(f"{command[:4]} did not finish in {timeout:.0f} s: {err.read()[-3000:]}")
        out.seek(0), err.seek(0)
        return subprocess.CompletedProcess(command, code, out.read(), err.read())


def torchrun(tmp: Path, opts: TrainOptions, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    script, config = tmp / "worker.py", tmp / f"{opts.output.name}.json"
    script.write_text(WORKER.format(tests=str(TESTS)), encoding="utf-8")
    config.write_text(json.dumps(opts.to_json()), encoding="utf-8")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", *args]
    environment = subprocess_env(OMP_NUM_THREADS="1", **env)
    return bounded([*command, str(script), str(config)], environment, tmp / opts.output.name, timeout=180)


def predictions(out: Path) -> np.ndarray:
    with (out / "predictions.csv").open() as f:
        return np.array([float(r["score_pred"]) if r["score_pred"] else np.nan for r in csv.DictReader(f)])


def outcome(out: Path) -> tuple[float, np.ndarray, dict[str, np.ndarray]]:
    metrics = json.loads((out / "metrics.json").read_text())
    held_out = predictions(out)
    held_out = held_out[~np.isnan(held_out)]
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


@pytest.fixture(scope="module")
def single(labels: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference: the run on one process."""
    out = tmp_path_factory.mktemp("single") / "one"
    one = train(options(labels, out))
    assert one.metrics["folds"][0]["score"]["spearman"] > 0.5  # it learns the planted speed
    return out


def test_two_processes_match_one_and_a_killed_run_resumes_on_one(
    labels: Path, single: Path, tmp_path: Path
) -> None:
    done = torchrun(tmp_path, options(labels, tmp_path / "two"))
    assert done.returncode == 0, done.stderr[-3000:]
    same(outcome(single), outcome(tmp_path / "two"))
    assert not (tmp_path / "two" / "checkpoint" / "state.json.tmp").exists()

    killed = torchrun(tmp_path, options(labels, tmp_path / "killed"), STOP_AFTER_EPOCH="2")
    assert killed.returncode != 0
    state = json.loads((tmp_path / "killed" / "checkpoint" / "state.json").read_text())
    assert state["current"]["phase"] == "final/m0" and state["current"]["fit"]["epoch"] == 2
    resumed = train(options(labels, tmp_path / "killed", resume=True))
    final = json.loads((single / "metrics.json").read_text())["final_model"]
    assert resumed.metrics["final_model"] == {**final, "members": resumed.metrics["final_model"]["members"]}
    same(outcome(single), outcome(tmp_path / "killed"))


def epochs_in(out: Path) -> dict[str, list[int]]:
    """Every finished network's epochs, as its history in the run's checkpoint holds them."""
    state = json.loads((out / "checkpoint" / "state.json").read_text())
    return {phase: [int(h["epoch"]) for h in done["history"]] for phase, done in state["completed"].items()}


def test_a_worker_killed_mid_epoch_under_max_restarts_resumes_by_itself(
    labels: Path, single: Path, tmp_path: Path
) -> None:
    out = tmp_path / "restarted"
    done = torchrun(tmp_path, options(labels, out), "--max-restarts=1", KILL_AT="holdout/m0:1:1")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "killing rank 1 in epoch 2 of holdout/m0" in done.stdout  # SIGKILL, mid-epoch, no --resume given
    logged = [line.split("  ")[:2] for line in done.stdout.splitlines() if "  epoch " in line]
    expected = [["holdout/m0", f"epoch {e}/4"] for e in (1, 2, 3, 4)] + [
        ["final/m0", f"epoch {e}/3"] for e in (1, 2, 3)
    ]
    assert logged == expected, done.stdout  # epoch 1 before the kill, 2 on after the restart: none twice
    assert epochs_in(out) == {"holdout/m0": [1, 2, 3, 4], "final/m0": [1, 2, 3]}
    same(outcome(single), outcome(out))  # the restarted run resumed exactly


def test_folds_over_ranks_give_one_process_results(labels: Path, tmp_path: Path) -> None:
    one = train(options(labels, tmp_path / "one", folds=2, val_split=None))
    done = torchrun(tmp_path, options(labels, tmp_path / "two", folds=2, val_split=None))  # auto: folds
    assert done.returncode == 0, done.stderr[-3000:]
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert two["processes"] == {"world_size": 2, "folds_spread_by": "folds"}  # a tiny model, 2 folds
    assert [row["split"] for row in two["folds"]] == ["fold0", "fold1"]
    for a, b in zip(one.metrics["folds"], two["folds"], strict=True):
        assert abs(a["score"]["spearman"] - b["score"]["spearman"]) <= 1e-9, (a, b)
    np.testing.assert_allclose(predictions(tmp_path / "one"), predictions(tmp_path / "two"), atol=1e-6)
    assert epochs_in(tmp_path / "two").keys() == {"fold0/m0", "fold1/m0", "final/m0"}
    assert sorted(p.name for p in (tmp_path / "two" / "checkpoint").iterdir()) == ["state.json"]


def test_options_are_refused_before_any_worker_starts(labels: Path, tmp_path: Path) -> None:
    base = options(labels, tmp_path / "run")
    with pytest.raises(InputError, match="global batch and must divide by the 4 processes"):
        check_launch(replace(base, fit=replace(base.fit, batch_size=6)), Launch(2, 2, 0, "host:29400"))
    with pytest.raises(InputError, match="needs --rdzv-endpoint"):
        check_launch(base, Launch(2, nnodes=2))
    with pytest.raises(InputError, match="--distribute folds deals the folds' networks out"):
        check_launch(replace(base, distribute="folds"), Launch(2))  # one holdout split: nothing to deal
    with pytest.raises(InputError, match="--distribute must be one of auto, batches, folds"):
        check_launch(replace(base, distribute="ranks"), Launch(2))
    with pytest.raises(InputError, match="--dist-timeout must be a positive"):
        check_launch(replace(base, dist_timeout=0), Launch(2))
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
