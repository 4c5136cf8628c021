"""The video training path: frame cache, crops, and fit_video on a planted temporal signal."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from memo.data.augment import to_input
from memo.data.decode import index_video, keyframe_times, read_frames_at
from memo.data.frame_cache import FrameCache
from memo.data.planted import write_planted
from memo.data.preprocess import preprocess_frames
from memo.models.spec import InputSpec, ModelSpec, Preprocess
from memo.trainer.engine import FitConfig
from memo.trainer.metrics import evaluate
from memo.trainer.video_fit import VideoFitOptions, VideoSplit, fit_video, predict_videos

PRE = Preprocess(resize=(40,), crop=(32, 32), mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


def video_spec(unit: str = "video") -> ModelSpec:
    return ModelSpec(
        name="t", architecture="t", unit=unit,  # type: ignore[arg-type]
        inputs=(InputSpec("frames", "keyframes", num_frames=7, preprocess=PRE),),
    )  # fmt: skip


class TinyTemporal(nn.Module):
    """Per-frame conv features, concatenated in time order, then a linear head."""

    def __init__(self, frames: int = 7) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(3, 8, 5, stride=4), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten()
        )
        self.head = nn.Sequential(nn.Linear(32 * frames, 32), nn.ReLU(), nn.Linear(32, 1))

    def forward(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        b = frames.shape[0]
        feats = self.conv(frames.flatten(0, 1)).reshape(b, -1)
        return {"score": torch.sigmoid(self.head(feats)).squeeze(1)}


class TinyFrame(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(3, 8, 5, stride=4), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten()
        )
        self.head = nn.Linear(32, 1)

    def forward(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"score": torch.sigmoid(self.head(self.conv(frames))).squeeze(1)}


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], np.ndarray]:
    folder = tmp_path_factory.mktemp("planted")
    labels = write_planted(folder, 72, "order", size=40, seed=1)
    rows = [line.split(",") for line in labels.read_text().splitlines()[1:]]
    return [str(folder / name) for name, _ in rows], np.array([float(v) for _, v in rows])


def test_centre_crop_of_cached_frames_equals_scoring_preprocess(planted, tmp_path: Path) -> None:
    paths, _ = planted
    spec = video_spec()
    cache = FrameCache(tmp_path / "cache", spec)
    cached = cache.load(paths[0]).frames["frames"]
    assert cached.dtype == np.uint8 and cached.shape == (7, 40, 40, 3)
    info = index_video(paths[0])
    images = read_frames_at(paths[0], keyframe_times(info, 7), info).images
    expected = preprocess_frames(images, PRE)
    assert np.array_equal(to_input(cached, spec.inputs[0]), expected)
    # a random crop keeps the frame size and differs from the centre crop
    rng = np.random.default_rng(0)
    shapes = {to_input(cached, spec.inputs[0], rng).shape for _ in range(4)}
    assert shapes == {expected.shape}


def test_cache_is_reused_resumable_and_bounded(planted, tmp_path: Path) -> None:
    paths, _ = planted
    cache = FrameCache(tmp_path / "cache", video_spec())
    assert cache.fill(paths[:3]) == {}
    stamp = {p: cache.file(p).stat().st_mtime_ns for p in paths[:3]}
    seen = []
    cache.fill(paths[:5], on_done=lambda done, total: seen.append(done))
    assert seen[0] == 3  # the three finished ones were not decoded again
    assert all(cache.file(p).stat().st_mtime_ns == stamp[p] for p in paths[:3])
    one = cache.file(paths[0]).stat().st_size
    bounded = FrameCache(tmp_path / "small", video_spec(), max_bytes=int(one * 2.5))
    bounded.fill(paths[:6], workers=1)
    assert bounded.size_bytes() <= one * 2.5
    assert sum(p in bounded for p in paths[:6]) == 2


def test_bad_file_is_reported_not_fatal(planted, tmp_path: Path) -> None:
    paths, _ = planted
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 10)
    errors = FrameCache(tmp_path / "cache", video_spec()).fill([paths[0], str(bad)])
    assert list(errors) == [str(bad)] and str(bad) in errors[str(bad)] and "\n" not in errors[str(bad)]


def _fit(model: nn.Module, spec: ModelSpec, paths, y, cache_dir: Path, epochs: int) -> float:
    cache = FrameCache(cache_dir, spec)
    cache.fill(paths, workers=2)
    train = VideoSplit(cache, paths[:56], y[:56])
    test = VideoSplit(cache, paths[56:], y[56:])
    cfg = FitConfig(epochs=epochs, batch_size=8, lr=3e-3, weight_decay=1e-4, patience=0, grad_clip=1.0)
    torch.manual_seed(0)
    _, best = fit_video(model, spec, train, None, cfg, VideoFitOptions(), torch.Generator().manual_seed(0))
    model.load_state_dict(best)
    pred = predict_videos(model, spec, test, 16, "cpu")["score"]
    return evaluate(pred, test.target)["spearman"]


@pytest.mark.skipif(os.environ.get("MEMO_FAST") == "1", reason="MEMO_FAST=1")
def test_temporal_model_learns_order_and_frame_model_cannot(planted, tmp_path: Path) -> None:
    paths, y = planted
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        temporal = _fit(TinyTemporal(), video_spec("video"), paths, y, tmp_path / "c1", epochs=40)
        frame = _fit(TinyFrame(), video_spec("frame"), paths, y, tmp_path / "c2", epochs=15)
    finally:
        torch.set_num_threads(threads)
    assert temporal >= 0.8, temporal
    assert abs(frame) < 0.5, frame
