"""The baselines learn a planted *temporal* signal from decoded videos; the frame average cannot.

Trained with the video trainer (``memo.trainer.video_fit.fit_video``: frame cache, crops,
flips) on generated videos whose frames all come from one distribution (``memo.data.planted``),
held-out Spearman measured on 16 of 72 videos.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from memo.data.frame_cache import FrameCache
from memo.data.planted import write_planted
from memo.models.registry import create_model, get_entry
from memo.trainer.engine import FitConfig
from memo.trainer.metrics import evaluate
from memo.trainer.video_fit import VideoFitOptions, VideoSplit, fit_video, predict_videos

from .baselinehelp import one_torch_thread  # noqa: F401 (fixture)

pytestmark = pytest.mark.skipif(os.environ.get("MEMO_FAST") == "1", reason="MEMO_FAST=1")

SMALL: dict[str, dict[str, Any]] = {
    "resnet3d": {"num_frames": 8, "fps": 16.0, "size": 32, "width": 8, "layers": (1, 1, 1, 1)},
    "cnn-transformer": {"trunk": "resnet18", "width": 8, "layers": (1, 1, 1), "num_frames": 7, "size": 32,
                        "dim": 32, "heads": 4, "ff": 64, "hidden": 16},
    "semantic-embedding": {"trunk": "resnet18", "width": 8, "layers": (1, 1, 1), "num_frames": 7, "size": 32,
                           "embed_dim": 32, "hidden": 16},
}  # fmt: skip


def _planted(folder: Path, mode: str) -> tuple[list[str], np.ndarray]:
    labels = write_planted(folder, 72, mode, size=40, seed=1)
    rows = [line.split(",") for line in labels.read_text().splitlines()[1:]]
    return [str(folder / name) for name, _ in rows], np.array([float(v) for _, v in rows])


@pytest.fixture(scope="module")
def speed(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], np.ndarray]:
    return _planted(tmp_path_factory.mktemp("speed"), "speed")


@pytest.fixture(scope="module")
def order(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], np.ndarray]:
    return _planted(tmp_path_factory.mktemp("order"), "order")


def _held_out_spearman(
    name: str, data: tuple[list[str], np.ndarray], cache: Path, epochs: int, lr: float
) -> float:
    paths, y = data
    spec = get_entry(name).default_spec(**SMALL[name])
    torch.manual_seed(0)
    model = create_model(name, **spec.arch_args)
    frames = FrameCache(cache, spec)
    frames.fill(paths, workers=2)
    train, test = VideoSplit(frames, paths[:56], y[:56]), VideoSplit(frames, paths[56:], y[56:])
    cfg = FitConfig(epochs=epochs, batch_size=8, lr=lr, weight_decay=1e-4, patience=0, grad_clip=1.0)
    _, best = fit_video(model, spec, train, None, cfg, VideoFitOptions(), torch.Generator().manual_seed(0))
    model.load_state_dict(best)
    return evaluate(predict_videos(model, spec, test, 16, "cpu")["score"], test.target)["spearman"]


def test_resnet3d_learns_speed_and_the_frame_average_cannot(speed, tmp_path: Path) -> None:
    clip = _held_out_spearman("resnet3d", speed, tmp_path / "c1", epochs=30, lr=3e-3)
    frames = _held_out_spearman("semantic-embedding", speed, tmp_path / "c2", epochs=30, lr=3e-3)
    assert clip >= 0.8, clip
    assert abs(frames) < 0.5, frames


def test_cnn_transformer_learns_the_order_of_events(order, tmp_path: Path) -> None:
    assert _held_out_spearman("cnn-transformer", order, tmp_path / "c", epochs=150, lr=1e-3) >= 0.8
