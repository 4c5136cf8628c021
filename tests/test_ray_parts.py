"""The parts of `memo score --engine ray` that need no cluster: manifest and anti-join, the
folder of Parquet parts (through a ``file://`` URI), reconciliation of lost rows, and the
option checks that run before Ray starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memo.cli import app
from memo.score.manifest import build_manifest, pending
from memo.score.outdir import OutDir
from memo.score.summary import ScoreSummary

pa = pytest.importorskip("pyarrow")


def _tree(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / ".hidden").mkdir()
    for name in ("a.mp4", "sub/b.webm", ".hidden/c.mp4", "notes.txt"):
        (root / name).write_bytes(b"x" * 7)
    return root


def test_manifest_lists_folders_and_uris_alike(tmp_path: Path) -> None:
    root = _tree(tmp_path / "lib")
    local = build_manifest([str(root)], ["mp4", "webm"])
    remote = build_manifest([f"file://{root}/"], ["mp4", "webm"])
    assert local["path"].to_pylist() == [str(root / "a.mp4"), str(root / "sub/b.webm")]
    assert remote["path"].to_pylist() == [f"file://{root}/a.mp4", f"file://{root}/sub/b.webm"]
    assert local["size"].to_pylist() == [7, 7] == remote["size"].to_pylist()
    assert local["index"].to_pylist() == [0, 1]


def test_resume_is_an_anti_join_on_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _tree(tmp_path / "lib")
    monkeypatch.chdir(tmp_path)
    manifest = build_manifest(["lib"], ["mp4", "webm"])  # relative spelling, absolute key
    assert manifest["path"].to_pylist() == ["lib/a.mp4", "lib/sub/b.webm"]
    left = pending(manifest, pa.array([str(root / "a.mp4")]))
    assert left["path"].to_pylist() == ["lib/sub/b.webm"] and left["index"].to_pylist() == [0]


def _rows(paths: list[str], status: str) -> object:
    return pa.table({"path": paths, "score": [0.5] * len(paths), "status": [status] * len(paths)})


def test_parts_through_a_uri_and_failed_rows_dropped_on_resume(tmp_path: Path) -> None:
    out = OutDir(f"file://{tmp_path}/out")
    out.check(resume=False, overwrite=False)  # nothing there yet
    out.write_part(_rows(["/v/a.mp4", "/v/b.mp4"], "ok"))
    out.write_part(_rows(["/v/c.mp4"], "failed"))
    out.write_json("_memo.json", {"format": "x"})
    (tmp_path / "out" / "mine.txt").write_text("not memo's")
    assert len(out.parts()) == 2 and not list((tmp_path / "out").glob(".part-*"))  # temporary names gone
    with pytest.raises(Exception, match="already holds results"):
        out.check(resume=False, overwrite=False)
    assert sorted(out.done_keys().to_pylist()) == ["/v/a.mp4", "/v/b.mp4", "/v/c.mp4"]
    assert out.drop_failed(pa.array(["/v/c.mp4"])) == 1
    assert sorted(out.done_keys().to_pylist()) == ["/v/a.mp4", "/v/b.mp4"] and len(out.parts()) == 1
    out.clear()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["mine.txt"]


def test_rows_never_delivered_become_failed_rows_and_none_is_written_twice(
    framecnn_bundle, tmp_path: Path
) -> None:
    from memo.score.ray_engine import LOST, _PartWriter
    from memo.score.ray_stages import result_schema
    from memo.score.runner import ScoreOptions, result_columns
    from memo.score.writers import read_results

    todo = pa.table({"index": [0, 1, 2], "path": ["a.mp4", "b.mp4", "c.mp4"]})
    out = OutDir(str(tmp_path / "out"))
    summary = ScoreSummary(out.location, "m", "torch", "cpu")
    writer = _PartWriter(out, todo, summary, None, every=0)
    columns = result_columns(framecnn_bundle, per_frame=False)
    row = dict.fromkeys(columns) | {"_index": 1, "path": "b.mp4", "score": 0.25, "status": "ok", "frames": 7}
    schema = result_schema(columns, ["score"])
    writer.add(pa.Table.from_pylist([row, row], schema=schema))  # delivered twice (a retried task)
    writer.add(pa.Table.from_pylist([row], schema=schema))
    options = ScoreOptions(inputs=[], output=tmp_path / "unused.csv")
    writer.reconcile(framecnn_bundle, options)
    rows = {r["path"]: r for r in read_results(tmp_path / "out")}
    assert sorted(rows) == ["a.mp4", "b.mp4", "c.mp4"]
    assert rows["b.mp4"]["status"] == "ok"
    assert rows["a.mp4"]["status"] == "failed" and rows["a.mp4"]["error"] == f"a.mp4: {LOST}"
    assert summary.new_scored == 1 and summary.new_failed == 2


def _invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--actors", "2"], "--actors only applies with --engine ray"),
        (["--engine", "spark"], "choose local or ray"),
        (["--engine", "ray", "--address", "http://x"], "expected auto, HOST:PORT or ray://HOST:PORT"),
        (["--engine", "ray", "--actors", "0"], "--actors must be at least 1"),
        (["--engine", "ray", "--decoder", "dali"], "--decoder dali is not supported"),
    ],
)
def test_cluster_options_are_checked_before_any_work(
    extra: list[str], message: str, framecnn_bundle, tmp_path: Path
) -> None:
    result = _invoke(
        "score", str(tmp_path), "-m", str(framecnn_bundle.path), "-o", str(tmp_path / "o"), *extra
    )
    assert result.exit_code == 2 and message in " ".join(result.output.split())
    assert not (tmp_path / "o").exists()


def test_resume_with_other_settings_is_refused_before_ray_starts(framecnn_bundle, tmp_path: Path) -> None:
    from memo.score.settings import FORMAT, score_settings

    out = tmp_path / "out"
    out.mkdir()
    settings = score_settings(framecnn_bundle) | {"input frames: frames": 2}
    (out / "_memo.json").write_text(
        json.dumps({"format": FORMAT, "settings": settings, "backends": ["torch"]})
    )
    args = [
        "score",
        str(tmp_path),
        "-m",
        str(framecnn_bundle.path),
        "-o",
        str(out),
        "--engine",
        "ray",
        "--resume",
    ]
    result = _invoke(*args)
    assert result.exit_code == 2 and "resuming would mix incomparable scores" in " ".join(
        result.output.split()
    )


def test_the_stall_watch_interrupts_only_a_silent_job_that_lacks_resources() -> None:
    import time

    from memo.score.ray_fit import Shape, missing_resources
    from memo.score.ray_watch import StallWatch

    shape = Shape(actors=2, gpus_per_actor=0.5, cpus_per_actor=2, decode_cpus=1)
    assert missing_resources(shape, [{"CPU": 5, "GPU": 1}]) is None
    assert missing_resources(shape, [{"CPU": 2, "GPU": 0.5}, {"CPU": 3, "GPU": 0.5}]) is None
    short = missing_resources(shape, [{"CPU": 4, "GPU": 1}])
    assert (
        short
        == "the cluster now has 4 CPUs and 1 GPUs on 1 node(s); beside a decode task only 1 of 2 actor(s) of 2 CPUs and 0.5 GPUs fit"
    )
    assert "only 0 of 2 actor(s)" in missing_resources(shape, [{"CPU": 8}])
    # totals are not enough: a decode task needs one node with its CPUs
    big = Shape(actors=1, gpus_per_actor=0, cpus_per_actor=2, decode_cpus=3)
    assert "no node has the 3 CPUs of a decode task" in missing_resources(big, [{"CPU": 2}] * 3)
    assert missing_resources(big, [{"CPU": 2}, {"CPU": 3}]) is None
    nodes = [{"CPU": 5.0, "GPU": 1.0}]
    watch = StallWatch(shape, 0.3, lambda: nodes, poll=0.05)
    assert watch.stalled(watch.last + 10) is None  # silent, but the cluster holds the job: only slow
    nodes[0]["CPU"] = 4.0
    assert watch.stalled(watch.last + 0.1) is None  # lacking, but rows came recently
    with pytest.raises(KeyboardInterrupt), watch:  # silent and lacking: the main thread is interrupted
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            time.sleep(0.01)
    assert watch.reason and "no result for" in watch.reason and "has 4 CPUs" in watch.reason
    # library code that swallows one KeyboardInterrupt (as an iterator's clean-up may) is interrupted again
    swallowed = []
    with pytest.raises(KeyboardInterrupt), StallWatch(shape, 0.1, lambda: nodes, poll=0.01) as again:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                time.sleep(0.01)
            except KeyboardInterrupt:
                if swallowed:
                    raise
                swallowed.append(time.monotonic())
    assert len(swallowed) == 1 and again.reason and again.repeat == 5.0
    # a SIGINT handler left ignored by an earlier library: the watch still interrupts, then restores it
    import signal

    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with pytest.raises(KeyboardInterrupt), StallWatch(shape, 0.1, lambda: nodes, poll=0.01):
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                time.sleep(0.01)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)
    with StallWatch(shape, 0, lambda: nodes, poll=0.01) as off:  # 0: never interrupts
        time.sleep(0.1)
    assert off.reason is None


def _engine(**shape: float) -> object:
    from memo.score.ray_options import RayEngineOptions

    return RayEngineOptions(output="unused", **shape)  # type: ignore[arg-type]


def test_the_start_up_check_places_the_shape_node_by_node_as_the_stall_watch_does() -> None:
    from memo.errors import MemoError
    from memo.score.ray_fit import missing_resources
    from memo.score.ray_options import plan_shape

    two_small = [{"CPU": 2.0}, {"CPU": 2.0}]  # 4 CPUs in all, but no node holds an actor of 3
    with pytest.raises(MemoError) as refused:
        plan_shape(_engine(actors=1, gpus_per_actor=0), 3, two_small)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("1 actor(s) × 3 CPUs (--threads) and 0 GPUs (--gpus-per-actor)")
    assert message.endswith("beside a decode task only 0 of 1 actor(s) of 3 CPUs and 0 GPUs fit")
    shape = plan_shape(_engine(actors=1, gpus_per_actor=0), 3, [{"CPU": 2.0}, {"CPU": 3.0}])
    assert (shape.actors, shape.cpus_per_actor, shape.decode_cpus) == (1, 3.0, 1.0)
    assert missing_resources(shape, [{"CPU": 2.0}, {"CPU": 3.0}]) is None  # the watch agrees
    with pytest.raises(MemoError, match="no node has the 3 CPUs of a decode task"):
        plan_shape(_engine(actors=1, gpus_per_actor=0, decode_cpus=3), 2, [{"CPU": 2.0}] * 3)


def test_the_start_up_check_counts_gpus_per_node_and_names_the_cpu_actor_way_out() -> None:
    from memo.errors import MemoError
    from memo.score.ray_options import plan_shape

    nodes = [{"CPU": 4.0, "GPU": 1.0}, {"CPU": 4.0, "GPU": 1.0}]
    shape = plan_shape(_engine(), None, nodes)  # defaults: one GPU actor per GPU
    assert (shape.actors, shape.gpus_per_actor, shape.cpus_per_actor) == (2, 1.0, 1.0)
    with pytest.raises(MemoError, match=r"only 2 of 3 actor\(s\).*\(--gpus-per-actor 0 for CPU actors\)$"):
        plan_shape(_engine(actors=3), None, nodes)
    # half a GPU on each of two nodes: 1 GPU in all, yet an actor of a whole GPU fits nowhere
    halves = [{"CPU": 4.0, "GPU": 0.5}, {"CPU": 4.0, "GPU": 0.5}]
    with pytest.raises(MemoError, match=r"only 0 of 1 actor\(s\) of 1 CPUs and 1 GPUs fit$"):
        plan_shape(_engine(actors=1, gpus_per_actor=1), None, halves)
    cpu_only = plan_shape(_engine(), None, [{"CPU": 8.0}])  # half the CPUs to 2-CPU actors
    assert (cpu_only.actors, cpu_only.gpus_per_actor, cpu_only.cpus_per_actor) == (2, 0.0, 2.0)
