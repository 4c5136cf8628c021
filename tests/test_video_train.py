"""``memo train --model NAME`` trains the video architectures end to end (memo/trainer/video_recipe.py).

Planted datasets (``memo.data.planted``: 72 generated videos whose frames all come from one
distribution; only time carries the label), one holdout split of 25 %, tiny configurations
given as ``--model-arg`` values, one torch thread. ResNet3D and VMemNet (clip models, on
``speed``) run in the default suite; the keyframe temporal models (CNN + Transformer,
AMNetVid, on ``order``) need more epochs and are ``slow``; docs/models.md records every
architecture's measured result.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.torch import load_file

from memo.data.planted import write_planted
from memo.errors import InputError
from memo.trainer import FitConfig, TrainOptions, train
from memo.trainer.options import parse_model_args

from .conftest import SHARED_VIDEOS, memo_command, subprocess_env

pytestmark = pytest.mark.skipif(os.environ.get("MEMO_FAST") == "1", reason="MEMO_FAST=1")

# The small configurations (the same --model-arg values as the commands in docs/models.md).
SMALL: dict[str, list[str]] = {
    "resnet3d": ["num_frames=8", "fps=16", "size=32", "width=8", "layers=[1,1,1,1]"],
    "framecnn": ["size=32"],
    "vmemnet": ["num_frames=3", "size=32", "trunk=small", "width=4", "clip_frames=8", "clip_fps=16",
                "clip_size=32", "clip_trunk=small", "clip_width=4", "attn_dim=16", "hidden=16", "fused_dim=16"],
    "cnn-transformer": ["trunk=resnet18", "width=8", "layers=[1,1,1]", "num_frames=7", "size=32", "dim=32",
                        "heads=4", "ff=64", "hidden=16"],
    "amnetvid": ["num_frames=7", 'amnet={"trunk":"small","width":4,"size":32,"attn_dim":16,"hidden":16}',
                 "map_size=16", "hidden=8", "freeze_amnet=false"],
    "amnet": ["trunk=small", "width=4", "size=32", "attn_dim=16", "hidden=16"],
    "semantic-embedding": ["trunk=resnet18", "width=8", "layers=[1,1,1]", "num_frames=7", "size=32",
                           "embed_dim=32", "hidden=16"],
}  # fmt: skip


@pytest.fixture(scope="module")
def disc_size(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_planted(tmp_path_factory.mktemp("size"), 72, "size", size=40, seed=1)


@pytest.fixture(scope="module")
def speed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_planted(tmp_path_factory.mktemp("speed"), 72, "speed", size=40, seed=1)


@pytest.fixture(scope="module")
def order(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_planted(tmp_path_factory.mktemp("order"), 72, "order", size=40, seed=1)


def options(labels: Path, out: Path, model: str, epochs: int, lr: float, **extra: Any) -> TrainOptions:
    fit = FitConfig(epochs=epochs, batch_size=8, lr=lr, weight_decay=1e-4, patience=0, device="cpu")
    values: dict[str, Any] = {
        "dataset": "csv", "data": labels, "output": out, "targets": ["score"], "model": model,
        "model_args": parse_model_args(SMALL[model]), "val_split": 0.25, "inner_val": 0.2, "fit": fit,
        "cache_dir": out.parent / "cache", "plots": False, "threads": 1,
    }  # fmt: skip
    return TrainOptions(**{**values, **extra})


def held_out(result: Any) -> float:
    return float(result.metrics["folds"][0]["score"]["spearman"])


def test_resnet3d_learns_speed_and_its_bundle_scores_real_videos(speed: Path, tmp_path: Path) -> None:
    result = train(options(speed, tmp_path / "run", "resnet3d", epochs=30, lr=3e-2))
    assert held_out(result) >= 0.8, result.metrics["folds"]
    out = tmp_path / "run"
    assert (out / "predictions.csv").is_file() and (out / "bundle" / "config.json").is_file()
    config = json.loads((out / "bundle" / "config.json").read_text())
    assert config["architecture"] == "resnet3d" and config["metadata"]["trained"]["target"] == "score"
    videos = sorted(p for p in SHARED_VIDEOS.glob("*") if p.is_file()) if SHARED_VIDEOS.is_dir() else []
    if not videos:
        pytest.skip("no ../shared/videos")
    scored = tmp_path / "scores.csv"
    proc = subprocess.run(
        [*memo_command(), "score", *map(str, videos), "-m", str(out / "bundle"), "-o", str(scored), "-q"],
        env=subprocess_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = scored.read_text().splitlines()[1:]
    assert len(rows) == len(videos) and all(r.strip() for r in rows)


def test_frame_average_cannot_learn_speed(tmp_path: Path) -> None:
    """72 held-out videos: on the 18 of the other tests a chance correlation reaches +-0.6."""
    labels = write_planted(tmp_path / "data", 144, "speed", size=40, seed=2)
    run = options(labels, tmp_path / "run", "framecnn", epochs=30, lr=3e-3)
    run.val_split = 0.5
    result = train(run)
    assert abs(held_out(result)) < 0.5, result.metrics["folds"]


def test_resume_equals_an_uninterrupted_run(speed: Path, tmp_path: Path) -> None:
    """Killed at the end of resnet3d's head-only stage (epoch 3) and again mid fine-tuning (5)."""
    full = train(options(speed, tmp_path / "full", "resnet3d", epochs=6, lr=3e-2))

    class Killed(Exception):
        pass

    def kill_at(epoch: int):  # type: ignore[no-untyped-def]
        def progress(event: dict[str, Any]) -> None:
            if event.get("phase") == "holdout/m0" and event.get("epoch") == epoch:
                raise Killed

        return progress

    run = options(speed, tmp_path / "run", "resnet3d", epochs=6, lr=3e-2)
    for epoch in (3, 5):
        with pytest.raises(Killed):
            train(run, progress=kill_at(epoch))
        run = options(speed, tmp_path / "run", "resnet3d", epochs=6, lr=3e-2, resume=True)
    resumed = train(run)
    assert resumed.metrics["folds"] == full.metrics["folds"]
    a = load_file(str(tmp_path / "full/bundle/weights.safetensors"))
    b = load_file(str(tmp_path / "run/bundle/weights.safetensors"))
    assert a.keys() == b.keys() and all(bool((a[k] == b[k]).all()) for k in a)


def test_video_options_are_checked_up_front(speed: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="one target per video model"):
        train(options(speed, tmp_path / "a", "resnet3d", epochs=1, lr=1e-3, targets=["score", "other"]))
    with pytest.raises(InputError, match="takes no --backbone-weights"):
        train(options(speed, tmp_path / "b", "framecnn", epochs=1, lr=1e-3, backbone_weights=speed))
    bad = options(speed, tmp_path / "c", "resnet3d", epochs=1, lr=1e-3)
    bad.model_args = {"no_such_arg": 1}
    with pytest.raises(InputError, match="no_such_arg"):
        train(bad)
    head_flag = options(speed, tmp_path / "d", "resnet3d", epochs=1, lr=1e-3)
    head_flag.hidden = 64  # fusion-mlp's head width: refused, not silently ignored
    with pytest.raises(InputError, match="--hidden is a fusion-mlp option"):
        train(head_flag)
    assert not (tmp_path / "a").exists() and not (tmp_path / "c").exists() and not (tmp_path / "d").exists()


def test_an_undecodable_video_is_a_check_problem_and_dropped_with_a_warning(
    speed: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    lines = speed.read_text().splitlines()
    for line in lines[1:9]:
        (folder / line.split(",")[0]).symlink_to(speed.parent / line.split(",")[0])
    (folder / "broken.mp4").write_bytes(b"not a video at all" * 10)
    labels = folder / "labels.csv"
    labels.write_text("\n".join([*lines[:9], "broken.mp4,0.5"]) + "\n")
    checked = train(options(labels, tmp_path / "check", "framecnn", epochs=1, lr=1e-3, check=True))
    assert not checked.check.ok and any("broken.mp4" in p for p in checked.check.problems)
    result = train(options(labels, tmp_path / "run", "framecnn", epochs=1, lr=1e-3))
    assert result.metrics["items"] == 8 and "broken.mp4" in next(iter(result.metrics["dropped_videos"]))
    assert any("broken.mp4" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")


def test_vmemnet_learns_speed_through_its_clip_stream(speed: Path, tmp_path: Path) -> None:
    result = train(options(speed, tmp_path / "run", "vmemnet", epochs=30, lr=3e-3))
    assert held_out(result) >= 0.8, result.metrics["folds"]


@pytest.mark.slow
def test_cnn_transformer_learns_the_order_of_events(order: Path, tmp_path: Path) -> None:
    result = train(options(order, tmp_path / "run", "cnn-transformer", epochs=150, lr=1e-3))
    assert held_out(result) >= 0.8, result.metrics["folds"]


@pytest.mark.slow
def test_amnetvid_learns_the_order_of_events(tmp_path: Path) -> None:
    """The tiny AMNetVid (ConvLSTM over 32-pixel attention maps) learns the order less surely than
    the others: on 72 videos its held-out Spearman ranged 0.17–0.80 over two planted datasets and
    two learning rates, and a one-level change of the decoded pixels moved one run from 0.80 to
    0.53. On 120 videos (30 held out) it gave 0.65–0.90 over the same grid: 0.6 is far above
    chance (p < 0.001 for 30 items) with room for such changes."""
    order = write_planted(tmp_path / "order", 120, "order", size=40, seed=1)
    result = train(options(order, tmp_path / "run", "amnetvid", epochs=60, lr=1e-2))
    assert held_out(result) >= 0.6, result.metrics["folds"]


def test_every_video_architecture_is_trainable() -> None:
    from memo.models.registry import get_entry
    from memo.trainer.recipe_api import recipe_for, trainable_models

    trainable = trainable_models()
    assert np.all([name in trainable for name in ("vmemnet", "amnetvid", "resnet3d", "cnn-transformer")])
    assert {recipe_for(name).name for name in ("vmemnet", "amnetvid", "resmem")} == {"video"}
    assert get_entry("m3s").recipe == "m3s" and get_entry("fusion-mlp").recipe == "vector-head"


def test_backbone_weights_reach_the_trunk(speed: Path, tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    from memo.errors import MemoError
    from memo.models.registry import create_model
    from memo.trainer.video_options import build_spec
    from memo.trainer.video_recipe import build_network

    spec = build_spec("resnet3d", parse_model_args(SMALL["resnet3d"]))
    torch.manual_seed(123)
    trunk = {
        k: v.contiguous() for k, v in create_model("resnet3d", **spec.arch_args).trunk.state_dict().items()
    }
    save_file(trunk, str(tmp_path / "trunk.safetensors"))
    run = options(
        speed,
        tmp_path / "run",
        "resnet3d",
        epochs=1,
        lr=1e-3,
        backbone_weights=tmp_path / "trunk.safetensors",
    )
    loaded = build_network(run, spec).trunk.state_dict()
    assert all(torch.equal(loaded[k], trunk[k]) for k in trunk)
    (tmp_path / "bad.safetensors").write_bytes(b"garbage")
    run.backbone_weights = tmp_path / "bad.safetensors"
    with pytest.raises(MemoError, match=r"bad\.safetensors"):
        build_network(run, spec)


@pytest.mark.parametrize("model", ["amnet", "semantic-embedding"])
def test_frame_models_learn_a_visual_signal(model: str, disc_size: Path, tmp_path: Path) -> None:
    """The frame models' control: a signal every frame shows (the disc's radius)."""
    result = train(options(disc_size, tmp_path / "run", model, epochs=20, lr=3e-3))
    assert held_out(result) >= 0.8, result.metrics["folds"]


def test_the_frame_cache_decoder_and_bound_are_options(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="decoder"):
        train(options(tmp_path / "labels.csv", tmp_path / "run", "resnet3d", 1, 1e-3, decoder="nvdec"))
    pytest.importorskip("nvidia.dali", reason="DALI is not installed (pip install 'memo[dali]')")
    labels = write_planted(tmp_path / "vp8", 12, "speed", size=40, kind="vp8", seed=3)
    opts = options(labels, tmp_path / "run", "resnet3d", 1, 1e-3, decoder="dali", frame_cache_gb=1.0)
    train(opts)
    import numpy as np

    entries = list((tmp_path / "cache" / "frames" / "resnet3d").glob("*/*.npz"))
    assert len(entries) == 12
    with np.load(entries[0], allow_pickle=False) as data:
        assert str(data["__decoder__"]) == "dali"
