"""`memo score --engine ray` on a simulated three-node Ray cluster: same rows as local scoring,
a worker node lost mid-run, a driver killed mid-run and resumed.

One cluster (``ray.cluster_utils.Cluster``: a head and two workers, logical GPUs declared on
the second) serves the whole module; this process joins it as the driver. Ray's start-up
costs seconds, so every job here is small (tiny model, small generated videos).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memo.cli import app
from memo.data.synthetic import write_video
from memo.score import ScoreOptions, score_videos
from memo.score.writers import read_results

from .conftest import SHARED_VIDEOS, subprocess_env

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'memo[ray]')")

from memo.score.ray_engine import score_videos_ray  # noqa: E402
from memo.score.ray_options import RayEngineOptions  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
CLIPS = 16


@pytest.fixture(scope="module")
def cluster():  # type: ignore[no-untyped-def]
    """Head (2 CPUs) + worker (2 CPUs) + worker (2 CPUs, 1 logical GPU); this process is the driver."""
    from ray.cluster_utils import Cluster

    temp = tempfile.mkdtemp(prefix="r", dir="/tmp")  # Ray's socket paths must stay short
    node = {"num_cpus": 2, "object_store_memory": 150 << 20}
    made = Cluster(
        initialize_head=True, head_node_args={**node, "include_dashboard": False, "temp_dir": temp}
    )
    workers = [made.add_node(**node), made.add_node(**node, num_gpus=1)]
    made.wait_for_nodes()
    ray.init(address=made.address, logging_level="ERROR", log_to_driver=False)
    try:
        yield made, workers
    finally:
        ray.shutdown()
        made.shutdown()
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("clips")
    for i in range(CLIPS):
        kind = ("h264", "vp9", "mov")[i % 3]
        from memo.data.synthetic import KINDS

        write_video(
            folder / f"c{i:02d}{KINDS[kind][0]}", kind, frames=24, fps=12, width=64, height=48, seed=i
        )
    return folder


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Inputs that fail: junk bytes, an empty file, a dangling link, a path that does not exist."""
    folder = tmp_path_factory.mktemp("bad")
    (folder / "junk.mp4").write_bytes(b"not a video at all")
    (folder / "empty.webm").write_bytes(b"")
    os.symlink(folder / "gone.mp4", folder / "dangling.mp4")
    return [str(folder), str(folder / "missing.mp4")]


def _inputs(clips: Path, bad: list[str]) -> list[str]:
    real = [str(SHARED_VIDEOS)] if SHARED_VIDEOS.is_dir() else []
    return [str(clips), *bad, *real]


@pytest.fixture(scope="module")
def both(cluster, clips: Path, bad: list[str], framecnn_bundle, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The same inputs scored locally (JSONL) and on the cluster (a folder of Parquet parts)."""
    folder = tmp_path_factory.mktemp("both")
    options = ScoreOptions(
        inputs=_inputs(clips, bad),
        output=folder / "local.jsonl",
        model=str(framecnn_bundle.path),
        batch_size=8,
    )
    score_videos(options)
    args = ["score", *options.inputs, "-o", str(folder / "ray"), "-m", str(framecnn_bundle.path), "-b", "8"]
    args += ["--engine", "ray", "--actors", "2", "--gpus-per-actor", "0", "--videos-per-block", "4", "--json"]
    done = CliRunner().invoke(app, args)  # in this process: the command joins the cluster it is connected to
    assert done.exit_code == 1, done.output  # some inputs failed, as locally
    local = {r["path"]: r for r in read_results(folder / "local.jsonl")}
    return local, read_results(folder / "ray"), json.loads(done.stdout), folder


def _same_row(local: dict, got: dict) -> None:
    assert set(got) == set(local)
    for name, want in local.items():
        if name == "seconds":
            continue
        if name == "score" and want is not None:
            assert got[name] == pytest.approx(want, abs=1e-6), got["path"]
        else:
            assert got[name] == want, (got["path"], name)


def test_cluster_rows_equal_local_rows(both, clips: Path) -> None:
    local, rows, summary, folder = both
    assert sorted(r["path"] for r in rows) == sorted(local)  # one row per input, none twice
    import pyarrow.dataset as ds

    columns = ds.dataset(folder / "ray", format="parquet").schema.names
    assert columns == list(local[next(iter(local))])  # same columns, same order as local scoring
    for row in rows:
        _same_row(local[row["path"]], row)
    assert summary["total"] == len(local) and summary["failed"] == sum(
        r["status"] != "ok" for r in local.values()
    )


def test_bad_inputs_give_the_local_failed_rows(both, bad: list[str]) -> None:
    local, rows, _, _ = both
    failed = {r["path"]: r["error"] for r in rows if r["status"] != "ok"}
    assert len(failed) == 4  # junk, empty, dangling link, missing, and nothing else
    assert failed == {p: r["error"] for p, r in local.items() if r["status"] != "ok"}
    assert any("dangling symbolic link" in e for e in failed.values())


def test_real_videos_equal_local(both) -> None:
    if not SHARED_VIDEOS.is_dir():
        pytest.skip("../shared/videos is absent: the real videos were not scored")
    _, rows, _, _ = both
    real = [r for r in rows if r["path"].startswith(str(SHARED_VIDEOS))]
    assert len(real) == len(list(SHARED_VIDEOS.iterdir())) and all(r["status"] == "ok" for r in real)


def test_folder_summary_and_settings_record(both) -> None:
    _, rows, _, folder = both
    record = json.loads((folder / "ray" / "_memo.json").read_text())
    assert record["backends"] == ["torch"] and record["settings"]["model"] == "framecnn"
    saved = json.loads((folder / "ray" / "_summary.json").read_text())
    assert saved["total"] == len(rows) and len(saved["slowest"]) == 5
    ok = [r["score"] for r in rows if r["status"] == "ok"]
    assert saved["mean_score"] == pytest.approx(sum(ok) / len(ok), abs=1e-12)
    assert saved["top"][0]["score"] == max(ok)


def test_worker_node_lost_mid_run_yields_every_input_once(
    cluster, clips: Path, framecnn_bundle, tmp_path: Path
) -> None:
    """A worker killed (not drained) after the first rows: every input still comes back exactly once.

    Inputs and output go through ``file://`` URIs (the object-store path: copy, decode, upload).
    """
    made, workers = cluster
    doomed = workers[0]  # the CPU worker; the head and the GPU worker carry on (and serve the next test)
    # one thread per actor: after the loss the 4 CPUs left hold both actors and still decode (with
    # 2 CPUs per actor they would hold only the actors, and Ray would wait for a node to come back)
    options = ScoreOptions(
        inputs=[f"file://{clips}"], output=tmp_path / "x", model=str(framecnn_bundle.path), threads=1
    )
    engine = RayEngineOptions(
        output=f"file://{tmp_path}/out", actors=2, gpus_per_actor=0, videos_per_block=2, flush_seconds=0
    )
    seen = []

    def kill_after_first_rows(row: dict, summary) -> None:  # type: ignore[no-untyped-def]
        seen.append(row["path"])
        if len(seen) == 3:
            made.remove_node(doomed, allow_graceful=False)

    summary = score_videos_ray(options, engine, on_row=kill_after_first_rows)
    rows = read_results(tmp_path / "out")
    paths = sorted(r["path"] for r in rows)
    assert paths == sorted(f"file://{p}" for p in sorted(map(str, clips.iterdir())))
    assert len(set(paths)) == CLIPS and all(r["status"] == "ok" for r in rows)
    assert summary.total == CLIPS and summary.new_scored == CLIPS


KILLER = """
import os, signal, sys
from pathlib import Path
from memo.score import ScoreOptions
from memo.score.ray_engine import score_videos_ray
from memo.score.ray_options import RayEngineOptions
clips, out, bundle, address = sys.argv[1:5]
count = []
def kill_self(row, summary):
    count.append(row)
    if len(count) == 6:  # parts are flushed with every batch: some rows are safe, most are not done
        os.kill(os.getpid(), signal.SIGKILL)
options = ScoreOptions(inputs=[clips], output=Path(out), model=bundle, batch_size=4)
score_videos_ray(options, RayEngineOptions(output=out, address=address, actors=1, gpus_per_actor=1,
                                           videos_per_block=2, flush_seconds=0), on_row=kill_self)
"""


def test_driver_killed_mid_run_then_resumed_scores_only_the_rest(
    cluster, clips: Path, framecnn_bundle, tmp_path: Path
) -> None:
    """A driver SIGKILLed mid-run (its GPU actor on the worker with logical GPUs), then the same
    job with ``resume``: the finished parts stay, only the rest is scored, each input once."""
    made, _ = cluster
    out = tmp_path / "out"
    env = subprocess_env()
    args = [str(clips), str(out), str(framecnn_bundle.path), made.address]
    killed = subprocess.run(
        [sys.executable, "-c", KILLER, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert killed.returncode == -9, killed.stderr[-2000:]
    first = read_results(out)
    assert 0 < len(first) < CLIPS
    options = ScoreOptions(
        inputs=[str(clips)], output=out, model=str(framecnn_bundle.path), batch_size=4, resume=True
    )
    engine = RayEngineOptions(output=str(out), actors=1, gpus_per_actor=1, videos_per_block=2)
    summary = score_videos_ray(options, engine).to_json()  # the same command again, with --resume
    assert summary["skipped"] == len(first) and summary["this_run"]["scored"] == CLIPS - len(first)
    rows = read_results(out)
    assert sorted(r["path"] for r in rows) == sorted(str(p) for p in clips.iterdir())
    before = {r["path"]: r["score"] for r in first}
    assert all(r["score"] == before[r["path"]] for r in rows if r["path"] in before)


def test_a_node_lost_before_the_pool_fits_again_stops_with_one_line(
    cluster, clips: Path, framecnn_bundle, tmp_path: Path
) -> None:
    """The only node big enough for a decode task (3 CPUs; the others have 2) is added, then lost
    (not drained) as the job starts: no decode task can run again, so Ray would wait for ever;
    memo stops once nothing arrived for ``stall_seconds``, with a line saying what the cluster
    lacks, and the folder stays resumable."""
    from memo.errors import MemoError

    made, _ = cluster
    extra = made.add_node(num_cpus=3, object_store_memory=150 << 20)
    made.wait_for_nodes()
    options = ScoreOptions(
        inputs=[str(clips)], output=tmp_path / "x", model=str(framecnn_bundle.path), threads=2
    )
    engine = RayEngineOptions(
        output=str(tmp_path / "out"), actors=1, gpus_per_actor=0, decode_cpus=3, stall_seconds=3
    )
    with pytest.raises(
        MemoError, match=r"stopped: no result for \d+ s and .* no node has the 3 CPUs of a decode task"
    ):
        score_videos_ray(
            options, engine, on_start=lambda total, skipped: made.remove_node(extra, allow_graceful=False)
        )
    assert (tmp_path / "out" / "_memo.json").is_file()  # settings recorded: --resume continues this folder
