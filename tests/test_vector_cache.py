"""The per-video vector cache (memo.data.vector_cache) and M3-S's tier vectors read back from it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from memo.data.m3s_planted import write_planted
from memo.data.vector_cache import VectorCache, weights_identity
from memo.trainer import FitConfig, TrainOptions
from memo.trainer.options import validate


def _video(tmp_path: Path, name: str = "a.bin", data: bytes = b"video") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_arrays_round_trip_and_settings_or_file_changes_miss(tmp_path: Path) -> None:
    video = _video(tmp_path)
    cache = VectorCache(tmp_path / "cache", "m3s", {"frames": 7})
    assert cache.load(video) is None
    cache.store(video, {"mid": np.arange(4, dtype=np.float32), "low": np.ones((1, 2, 3), np.float32)})
    back = cache.load(video)
    assert back is not None and np.array_equal(back["mid"], np.arange(4)) and back["low"].shape == (1, 2, 3)
    assert (cache.folder / "settings.json").is_file()
    assert VectorCache(tmp_path / "cache", "m3s", {"frames": 8}).load(video) is None  # other settings
    os.utime(video, ns=(1, 1))  # the file changed: recomputed, never read stale
    assert cache.load(video) is None


def test_a_corrupt_file_is_a_miss_not_an_error(tmp_path: Path) -> None:
    video = _video(tmp_path)
    cache = VectorCache(tmp_path / "cache", "m3s", {})
    cache.store(video, {"mid": np.zeros(3, np.float32)})
    next(cache.folder.glob("*.npz")).write_bytes(b"not an npz")
    assert cache.load(video) is None


def test_weights_identity_changes_with_the_file(tmp_path: Path) -> None:
    weights = _video(tmp_path, "w.safetensors", b"one")
    first = weights_identity(weights)
    weights.write_bytes(b"other weights")
    assert weights_identity(weights) != first
    assert weights_identity(None) is None


def test_m3s_tier_vectors_are_computed_once_then_read_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from memo.data import inputs
    from memo.trainer.prepare import prepare

    planted = write_planted(tmp_path / "videos", 6, size=32, frames=4, seed=1)
    lines = ["path,score"] + [f"{Path(v.path).name},{v.label:.6f}" for v in planted]
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    options = TrainOptions(
        dataset="csv", data=tmp_path / "labels.csv", videos=tmp_path / "videos", output=tmp_path / "run",
        targets=["score"], inputs=["keyframes"], model="m3s", cache_dir=tmp_path / "cache",
        model_args={"modules": "low,mid", "mid": "tiny", "low_size": 32, "low_frames": 2, "mid_frames": 2},
        fit=FitConfig(epochs=1, device="cpu"),
    )  # fmt: skip
    validate(options)
    first = prepare(options).vectors
    assert first is not None and len(list((tmp_path / "cache" / "m3s").rglob("*.npz"))) == 6

    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("decoded a video whose tier vectors are cached")

    monkeypatch.setattr(inputs, "prepare_video", no_decoding)
    second = prepare(options).vectors
    assert second is not None
    for key in ("low", "mid"):
        np.testing.assert_array_equal(first.per_item[key], second.per_item[key])
