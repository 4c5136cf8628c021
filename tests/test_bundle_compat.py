"""Bundles written before the trainer became recipes (config.json exactly as ``main`` wrote it
on 2026-12-03, commit df63e1c) still load and score: the bundle format did not change."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from memo.cli import app
from memo.errors import BundleError
from memo.models.bundle import read_bundle
from memo.models.registry import create_model, get_entry
from memo.runtime.base import load_session
from tests.baselinehelp import TINY

FRAMECNN_CONFIG = {
    "format": "memo-bundle/1", "name": "framecnn", "architecture": "framecnn", "version": "1",
    "arch_args": {"width": 4},
    "inputs": [{"name": "frames", "stream": "keyframes", "num_frames": 3, "fps": None,
                "preprocess": {"resize": [32], "crop": [32, 32], "mean": [0.485, 0.456, 0.406],
                               "std": [0.229, 0.224, 0.225], "interpolation": "bilinear"},
                "dim": None, "encoder": None}],
    "outputs": [{"name": "score", "description": "memorability of the frame, in [0, 1]"}],
    "unit": "frame", "aggregate": "mean", "description": "small frame CNN (tests, quick experiments)",
    "licence": None, "export_atol": 0.0001, "metadata": {"pretrained": "none (trained from scratch)"},
}  # fmt: skip

FUSION_CONFIG = {
    "format": "memo-bundle/1", "name": "fusion-mlp", "architecture": "fusion-mlp", "version": "1",
    "arch_args": {"dims": {"feats": 3}, "outputs": ["score"], "hidden": 4, "dropout": 0.3, "input_dropout": 0.1,
                  "video_backbone": None, "means": None, "members": 1, "log_inputs": []},
    "inputs": [{"name": "feats", "stream": "features", "num_frames": 7, "fps": None, "preprocess": None,
                "dim": 3, "encoder": None}],
    "outputs": [{"name": "score", "description": "score"}],
    "unit": "video", "aggregate": "mean",
    "description": "late-fusion MLP over caption embeddings, precomputed features and/or frozen video features",
    "licence": None, "export_atol": 0.0001,
    "metadata": {"pretrained": {"feats": "precomputed features from the user's files", "head": "new"}},
}  # fmt: skip

FUSION_WEIGHTS = {
    "members.0.project.feats.0.weight": (3,), "members.0.project.feats.0.bias": (3,),
    "members.0.project.feats.2.weight": (4, 3), "members.0.project.feats.2.bias": (4,),
    "members.0.body.1.weight": (4, 4), "members.0.body.1.bias": (4,),
    "members.0.head.weight": (1, 4), "members.0.head.bias": (1,),
}  # fmt: skip


def _write(folder: Path, config: dict, weights: dict[str, torch.Tensor]) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    save_file({k: v.contiguous() for k, v in weights.items()}, str(folder / "weights.safetensors"))
    return folder


def _framecnn_weights() -> dict[str, torch.Tensor]:
    """The tensors of a width-4 framecnn (names and shapes as the module has them)."""
    from memo.models.registry import create_model

    torch.manual_seed(0)
    return create_model("framecnn", width=4).state_dict()


def test_a_framecnn_bundle_of_the_old_format_scores_videos(sample_dir: Path, tmp_path: Path) -> None:
    bundle = _write(tmp_path / "old-framecnn", FRAMECNN_CONFIG, _framecnn_weights())
    out = tmp_path / "scores.csv"
    videos = sorted(str(p) for p in sample_dir.iterdir())[:2]
    done = CliRunner().invoke(
        app, ["score", *videos, "-m", str(bundle), "-o", str(out), "-q", "--device", "cpu"]
    )
    assert done.exit_code == 0, done.output
    rows = list(csv.DictReader(out.open()))
    assert [r["status"] for r in rows] == ["ok", "ok"] and all(0 < float(r["score"]) < 1 for r in rows)


def test_a_fusion_bundle_of_the_old_format_loads_strictly_and_scores_features(tmp_path: Path) -> None:
    generator = torch.Generator().manual_seed(1)
    weights = {k: torch.randn(shape, generator=generator) for k, shape in FUSION_WEIGHTS.items()}
    bundle = read_bundle(_write(tmp_path / "old-fusion", FUSION_CONFIG, weights))
    assert bundle.spec.architecture == "fusion-mlp" and bundle.spec.inputs[0].dim == 3
    feats = np.random.default_rng(0).random((5, 3), dtype=np.float32)
    scores = load_session(bundle, "torch", "cpu").run({"feats": feats})["score"]
    assert scores.shape == (5,) and np.isfinite(scores).all() and len(set(scores.round(6))) > 1


def test_an_old_bundle_naming_its_frame_count_frames_loads_as_num_frames(tmp_path: Path) -> None:
    """Bundles written before the frame count had one name (``frames`` in semantic-embedding,
    cnn-transformer and resnet3d) load: the old key is read as ``num_frames``."""
    spec = get_entry("semantic-embedding").default_spec(**TINY["semantic-embedding"])
    config = spec.to_json()
    old_args = dict(config["arch_args"])
    old_args["frames"] = old_args.pop("num_frames")  # as config.json said before the rename
    config["arch_args"] = old_args
    module = create_model("semantic-embedding", **spec.arch_args)
    bundle = read_bundle(_write(tmp_path / "old-semantic", config, module.state_dict()))
    assert bundle.spec.arch_args["num_frames"] == 3 and "frames" not in bundle.spec.arch_args
    loaded = bundle.build_module().eval()
    frames = torch.rand(2, 3, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(frames=frames)["score"], module.eval()(frames=frames)["score"])
    both = dict(config, arch_args={**old_args, "num_frames": 3})
    with pytest.raises(BundleError, match="both 'frames' and 'num_frames'"):
        read_bundle(_write(tmp_path / "both", both, module.state_dict()))


def test_old_configs_pass_the_typed_check_and_a_mistyped_arch_arg_is_refused_at_load(tmp_path: Path) -> None:
    """The arch args of the configs above are typed by their architecture's config when read;
    the same config with a mistyped argument fails to load, naming the file and the argument."""
    assert read_bundle(_write(tmp_path / "ok", FRAMECNN_CONFIG, _framecnn_weights())).spec.arch_args == {
        "width": 4
    }
    bad = dict(FRAMECNN_CONFIG, arch_args={"width": "4"})
    folder = _write(tmp_path / "bad", bad, _framecnn_weights())
    with pytest.raises(BundleError) as caught:
        read_bundle(folder)
    assert str(caught.value) == (
        f"{folder / 'config.json'}: arch_args: framecnn argument 'width' must be int, got '4' (str)"
    )
