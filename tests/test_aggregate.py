"""``ModelSpec.aggregate``: how a frame model's per-frame scores become the video's score."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from memo.errors import BundleError
from memo.models.bundle import Bundle, read_bundle, save_bundle
from memo.score import ScoreOptions, score_videos
from memo.score.writers import read_results


def _with_aggregate(bundle: Bundle, how: str, folder: Path) -> Bundle:
    return save_bundle(folder / how, bundle.spec.with_(aggregate=how), bundle.state_dict())


@pytest.mark.parametrize("how", ["mean", "median"])
def test_score_uses_the_bundles_aggregate(framecnn_bundle: Bundle, sample_dir: Path, tmp_path: Path,
                                          how: str) -> None:  # fmt: skip
    bundle = _with_aggregate(framecnn_bundle, how, tmp_path)
    assert json.loads((bundle.path / "config.json").read_text())["aggregate"] == how
    out = tmp_path / f"{how}.jsonl"
    options = ScoreOptions(
        inputs=[str(sample_dir)], output=out, model=str(bundle.path), per_frame=True, workers=1
    )
    assert score_videos(options).scored == 6
    for row in read_results(out):
        frames = np.asarray(row["frame_score"], dtype=np.float64)
        want = np.median(frames) if how == "median" else frames.mean()
        assert row["score"] == pytest.approx(want, abs=2e-6)
    if how == "median":  # the random frame CNN's frame scores are not symmetric: the two differ
        assert any(
            abs(np.median(r["frame_score"]) - np.mean(r["frame_score"])) > 1e-6 for r in read_results(out)
        )


def test_bench_scores_use_the_bundles_aggregate(framecnn_bundle: Bundle, tmp_path: Path) -> None:
    from memo.bench.runner import _video_score

    bundle = _with_aggregate(framecnn_bundle, "median", tmp_path)

    class Rows:  # a session whose per-row scores are known
        def run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            return {"score": feed["frames"][:, 0, 0, 0].astype(np.float64)}

    frames = np.zeros((5, 3, 8, 8), np.float32)
    frames[:, 0, 0, 0] = [0.1, 0.2, 0.3, 0.9, 1.0]
    assert _video_score(Rows(), {"frames": frames}, 5, bundle, batch=2) == pytest.approx(0.3)  # mean 0.5


def test_an_unknown_aggregate_is_rejected(framecnn_bundle: Bundle, tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"unknown aggregate 'max' \(one of mean, median\)"):
        framecnn_bundle.spec.with_(aggregate="max")
    data = json.loads((framecnn_bundle.path / "config.json").read_text())
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text(json.dumps({**data, "aggregate": "max"}))
    with pytest.raises(BundleError, match="unknown aggregate 'max'"):
        read_bundle(tmp_path / "bad")
