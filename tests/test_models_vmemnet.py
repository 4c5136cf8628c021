"""VMemNet: per-head outputs, attention maps, clip and features variants, ONNX parity, a short fit."""

from __future__ import annotations

import pytest
import torch

from memo.models.registry import get_entry
from memo.models.vmemnet import HEAD_LOSSES, VMemNet, VMemNetConfig
from tests.modelhelp import build, fit_reduces_loss, onnx_parity, spread_heads, varied_inputs

TINY = {"width": 4, "attn_dim": 16, "hidden": 16, "fused_dim": 16}


def tiny_spec(dynamic: str = "clip"):
    extra = {"clip_trunk": "small", "clip_width": 4} if dynamic == "clip" else {"dynamic_dim": 10}
    return get_entry("vmemnet").default_spec(
        num_frames=3, size=64, trunk="small", dynamic=dynamic, clip_frames=4, clip_size=32, **TINY, **extra
    )


@pytest.mark.parametrize("dynamic", ["clip", "features"])
def test_heads_and_attention_maps(dynamic):
    spec = tiny_spec(dynamic)
    assert spec.streams == ("keyframes", dynamic)
    module = build(spec).eval()
    inputs = varied_inputs(spec, 2)
    expected = (2, 3, 4, 32, 32) if dynamic == "clip" else (2, 10)
    assert inputs["dynamic"].shape == expected
    outputs, maps = module.explain(**inputs)
    assert list(outputs) == list(spec.output_names) == ["score", "semantic", "spatial"]
    assert all(v.shape == (2,) for v in outputs.values())
    torch.testing.assert_close(outputs["score"], 0.6 * outputs["semantic"] + 0.4 * outputs["spatial"])
    assert set(maps) == {"spatial", "semantic"}
    assert all(m.shape == (2, 3, 4, 4) for m in maps.values())
    # spatial: one softmax per frame; semantic: one softmax over every frame and location
    torch.testing.assert_close(maps["spatial"].sum((2, 3)), torch.ones(2, 3))
    torch.testing.assert_close(maps["semantic"].sum((1, 2, 3)), torch.ones(2))
    assert module.attention(**inputs).keys() == maps.keys()


def test_spec_records_the_loss_pair_and_defaults():
    spec = get_entry("vmemnet").default_spec()
    assert spec.metadata["head_losses"] == HEAD_LOSSES == {"semantic": "mse", "spatial": "ranking"}
    assert spec.metadata["head_weights"] == {"semantic": 0.6, "spatial": 0.4}
    clip = spec.input("dynamic")
    assert (clip.stream, clip.num_frames, clip.preprocess.crop) == ("clip", 16, (112, 112))
    assert spec.input("frames").num_frames == 7 and spec.input("frames").preprocess.crop == (224, 224)
    other = get_entry("vmemnet").default_spec(head_losses={"semantic": "ranking", "spatial": "mse"})
    assert other.metadata["head_losses"]["semantic"] == "ranking"
    with pytest.raises(ValueError, match="dynamic_dim"):
        VMemNet(VMemNetConfig(trunk="small", dynamic="features"))


@pytest.mark.parametrize("dynamic", ["clip", "features"])
def test_onnx_export_matches_pytorch(dynamic, tmp_path):
    pytest.importorskip("onnxruntime")
    spec = tiny_spec(dynamic)
    module = build(spec).eval()
    spread_heads(module, ["semantic.head.3", "spatial.core.regnet4"])
    result = onnx_parity(spec, module, tmp_path)
    assert result["max_abs_diff"] <= 1e-4, result
    assert result["spearman"] >= 0.999, result


def test_a_few_steps_reduce_the_loss():
    spec = tiny_spec("clip")
    before, after = fit_reduces_loss(spec, build(spec), steps=20, lr=1e-2)
    assert after < 0.5 * before, (before, after)


def test_exporter_validates_on_real_decoded_keyframes_and_clips(tmp_path):
    """The full ``export_onnx`` path: decode keyframes + a clip per video, PyTorch vs ORT."""
    pytest.importorskip("onnxruntime")
    from memo.export import export_onnx
    from memo.models.bundle import save_bundle

    spec = tiny_spec("clip")
    module = build(spec).eval()
    spread_heads(module, ["semantic.head.3", "spatial.core.regnet4"])
    bundle = save_bundle(tmp_path / "vmemnet", spec, module.state_dict())
    result = export_onnx(bundle, batch="1:2:4", sample_count=3)
    check = result.validation
    assert check.passed and check.max_abs_diff <= 1e-4, check.problems
    assert len(check.videos) == 3 and check.rows == 3


def test_the_dynamic_stream_sees_time():
    """Reversing the clip changes the prediction: the 3D trunk is sensitive to frame order."""
    spec = tiny_spec("clip")
    module = build(spec).eval()
    spread_heads(module, ["semantic.head.3", "spatial.core.regnet4"])
    inputs = varied_inputs(spec, 2)
    clip = inputs["dynamic"] * torch.linspace(0.5, 1.5, 4).view(1, 1, 4, 1, 1)
    with torch.no_grad():
        forward = module(frames=inputs["frames"], dynamic=clip)
        backward = module(frames=inputs["frames"], dynamic=clip.flip(2))
    torch.testing.assert_close(forward["spatial"], backward["spatial"])  # keyframes unchanged
    assert (forward["semantic"] - backward["semantic"]).abs().max() > 1e-4
