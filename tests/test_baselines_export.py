"""The baselines end to end: ONNX export parity and ``memo score -m`` on generated videos."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from memo.data.inputs import prepare_video
from memo.data.synthetic import write_video
from memo.score.writers import read_results

from .baselinehelp import TINY, one_torch_thread, tiny_bundle, tiny_inputs  # noqa: F401 (fixture)
from .conftest import memo_command, subprocess_env

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def clip_videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clipvideos")
    write_video(folder / "a.mp4", "h264", frames=24, fps=12, width=64, height=48, seed=1)
    write_video(folder / "b.webm", "vp9", frames=30, fps=15, width=48, height=64, seed=2)
    return folder


@pytest.mark.parametrize("config", sorted(TINY))
def test_onnx_export_matches_torch(config: str, tmp_path, sample_dir) -> None:
    from memo.export import export_onnx
    from memo.runtime.base import load_session

    bundle = tiny_bundle(config, tmp_path / config)
    result = export_onnx(bundle, batch="1:2:4", videos=sample_dir, sample_count=6)
    check = result.record["validation"]
    assert check["passed"] and check["max_abs_diff"] <= 1e-4 and check["spearman"] >= 0.999, check
    assert len(set(np.round(check["reference_scores"], 4))) > 1, "scores do not spread"
    model = onnx.load(str(result.path))
    assert [o.name for o in model.graph.output] == ["score"]  # no attention outputs in the graph
    for rows in (1, 3):  # dynamic batch
        feed = {k: v.numpy() for k, v in tiny_inputs(bundle.spec, rows, seed=rows).items()}
        got = load_session(bundle, "onnx", "cpu").run(feed)["score"]
        want = load_session(bundle, "torch", "cpu").run(feed)["score"]
        assert got.shape == (rows,)
        np.testing.assert_allclose(got, want, atol=1e-4)


def test_clip_arrays_batch_across_videos(clip_videos, tmp_path) -> None:
    bundle = tiny_bundle("resnet3d", tmp_path / "r3d")
    prepared = [prepare_video(str(p), bundle.spec) for p in sorted(clip_videos.iterdir())]
    for video in prepared:
        assert video.rows == 1 and video.arrays["clip"].shape == (1, 3, 4, 32, 32)
        assert video.frames == 4
    batch = np.concatenate([v.arrays["clip"] for v in prepared])
    from memo.runtime.base import load_session

    session = load_session(bundle, "torch", "cpu")
    together = session.run({"clip": batch})["score"]
    apart = [session.run(v.arrays)["score"][0] for v in prepared]
    np.testing.assert_allclose(together, apart, atol=1e-6)


@pytest.mark.parametrize("config", ["resnet3d", "cnn-transformer"])
def test_memo_score_with_a_video_model_bundle(config: str, clip_videos, tmp_path) -> None:
    bundle = tiny_bundle(config, tmp_path / config)
    out = tmp_path / "scores.csv"
    done = subprocess.run(
        [
            *memo_command(),
            "score",
            str(clip_videos),
            "-m",
            str(bundle.path),
            "-o",
            str(out),
            "--batch-size",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=subprocess_env(COLUMNS="200"),
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = read_results(out)
    assert len(rows) == 2
    for row in rows:
        assert row["status"] == "ok", row
        assert 0.0 < float(row["score"]) < 1.0
        assert row["model"] == bundle.spec.name


def test_bench_rows_for_a_clip_model(tmp_path, sample_dir) -> None:
    from memo.bench.runner import BenchOptions, run_bench
    from memo.export import export_onnx

    bundle = tiny_bundle("resnet3d", tmp_path / "r3d")
    export_onnx(bundle, batch="1:2:4", videos=sample_dir, sample_count=3)
    options = BenchOptions(model=str(bundle.path), backends=("torch", "onnx"), batch_sizes=(1, 2), device="cpu",
                           warmup=0, iterations=2, max_seconds=1.0, sample_count=3, videos=sample_dir)  # fmt: skip
    report = run_bench(options)
    assert [(r.backend, r.batch, r.status) for r in report.rows] == [
        ("torch", 1, "ok"), ("torch", 2, "ok"), ("onnx", 1, "ok"), ("onnx", 2, "ok")
    ]  # fmt: skip
    assert all(r.spearman is None or r.spearman >= 0.999 for r in report.rows)
    assert all(r.e2e_videos_per_s and r.e2e_videos_per_s > 0 for r in report.rows)


def test_frames_override_is_refused_for_video_models(tmp_path, clip_videos) -> None:
    from memo.errors import MemoError
    from memo.score.runner import ScoreOptions, score_videos

    bundle = tiny_bundle("cnn-transformer", tmp_path / "ct")
    options = ScoreOptions(
        inputs=[str(clip_videos)], output=tmp_path / "s.csv", model=str(bundle.path), num_frames=4
    )
    with pytest.raises(MemoError, match="fixed number of frames"):
        score_videos(options)
    assert not (tmp_path / "s.csv").exists()


@pytest.mark.parametrize(
    ("config", "map_name"), [("semantic-embedding", "attention"), ("cnn-transformer", "rollout")]
)
def test_explain_draws_the_attention_maps(config: str, map_name: str, clip_videos, tmp_path) -> None:
    from PIL import Image

    from memo.explain.runner import ExplainOptions, explain_videos

    bundle = tiny_bundle(config, tmp_path / config)
    video = str(sorted(clip_videos.iterdir())[0])
    (result,) = explain_videos(
        ExplainOptions(videos=[video], output=tmp_path / "out", model=str(bundle.path))
    )
    assert result.error is None and result.maps == [map_name]
    frames = bundle.spec.inputs[0].num_frames
    overlays = sorted(p.name for p in result.files if p.name.startswith(map_name))
    assert overlays == [f"{map_name}_f{k}.png" for k in range(frames)]
    for path in result.files:
        if path.suffix == ".png":
            with Image.open(path) as image:
                image.load()
                assert image.size[0] >= 64
    assert 0.0 < result.scores["score"] < 1.0
