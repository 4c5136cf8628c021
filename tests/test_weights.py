"""One loader for every user weight file (memo/models/weights.py): prefixes, strictness and
shape errors decided in one place; the error names the file and the first key that does not fit."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from memo.data.video_features import backbone_state
from memo.errors import BundleError
from memo.models.weights import load_weights


def _net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Conv2d(4, 2, 1))


def test_wrapper_prefixes_are_stripped_and_extra_tensors_reported(tmp_path: Path) -> None:
    source = _net()
    state = {f"module.backbone.{k}": v for k, v in source.state_dict().items() if "num_batches" not in k}
    save_file({**state, "fc.weight": torch.zeros(3, 2)}, str(tmp_path / "w.safetensors"))
    target = _net()
    report = load_weights(target, tmp_path / "w.safetensors")
    assert report.unused == ("fc.weight",) and report.loaded == len(state)
    torch.testing.assert_close(target[2].weight, source[2].weight)


def test_the_error_names_the_file_and_the_first_key_that_does_not_fit(tmp_path: Path) -> None:
    state = _net().state_dict()
    save_file({k: v for k, v in state.items() if not k.startswith("1.")}, str(tmp_path / "short.safetensors"))
    with pytest.raises(BundleError, match=r"short\.safetensors: no tensor '1\.weight' in the file \(4 of"):
        load_weights(_net(), tmp_path / "short.safetensors")
    save_file({**state, "2.weight": torch.zeros(2, 4, 3, 3)}, str(tmp_path / "shape.safetensors"))
    with pytest.raises(
        BundleError, match=r"shape\.safetensors: tensor '2\.weight' has shape \(2, 4, 3, 3\) in the file"
    ):
        load_weights(_net(), tmp_path / "shape.safetensors")


def test_a_frozen_video_backbone_file_is_checked_against_the_backbone(tmp_path: Path) -> None:
    import torchvision

    net = torchvision.models.resnet18(weights=None)
    save_file(net.state_dict(), str(tmp_path / "r18.safetensors"))
    state = backbone_state("torchvision:resnet18", tmp_path / "r18.safetensors")
    assert "fc.weight" not in state and torch.equal(state["conv1.weight"], net.conv1.weight)
    with pytest.raises(BundleError, match=r"r18\.safetensors: tensor 'layer1\.0\.conv1\.weight' has shape"):
        backbone_state("torchvision:resnet50", tmp_path / "r18.safetensors")
