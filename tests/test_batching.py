"""Scores do not depend on how frames are cut into batches or how many decoders run."""

from __future__ import annotations

from pathlib import Path

import pytest

from memo.score import ScoreOptions, score_videos
from memo.score.writers import read_results


def _scores(sample_dir: Path, bundle: Path, out: Path, **options: object) -> dict[str, dict]:
    summary = score_videos(ScoreOptions(inputs=[str(sample_dir)], output=out, model=str(bundle), **options))
    assert summary.total == 7 and summary.failed == 1
    return {r["path"]: r for r in read_results(out)}


def test_batch_size_and_workers_do_not_change_scores(
    sample_dir: Path, framecnn_bundle, tmp_path: Path
) -> None:
    folder = tmp_path / "videos"
    folder.mkdir()
    for video in sample_dir.iterdir():
        (folder / video.name).symlink_to(video)
    (folder / "v2_broken.mp4").write_bytes(b"\x00" * 64)  # a failure in the middle of the queue
    bundle = framecnn_bundle.path
    base = _scores(
        folder, bundle, tmp_path / "a.jsonl", batch_size=1, workers=1, per_frame=True, num_frames=5
    )
    # 5 frames per video in batches of 3 (videos straddle batches), or all in one batch, 3 decoders.
    for i, (batch_size, workers) in enumerate([(3, 2), (64, 3), (7, 1)]):
        other = _scores(
            folder, bundle, tmp_path / f"b{i}.jsonl", batch_size=batch_size, workers=workers, per_frame=True,
            num_frames=5,
        )  # fmt: skip
        assert other.keys() == base.keys()
        for path, row in base.items():
            assert other[path]["status"] == row["status"]
            if row["status"] == "ok":
                assert other[path]["frame_score"] == pytest.approx(row["frame_score"], abs=1e-5)
                assert other[path]["score"] == pytest.approx(row["score"], abs=1e-5)
                assert len(row["frame_score"]) == 5
