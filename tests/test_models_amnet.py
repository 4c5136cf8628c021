"""AMNet (frame model) and AMNetVid with its baselines: maps, outputs, ONNX parity, a short fit."""

from __future__ import annotations

import pytest
import torch

from memo.models.amnet import AMNet, AMNetConfig, attention_penalty, load_released_amnet, released_key
from memo.models.amnetvid import draw_on_black, jet
from memo.models.registry import get_entry
from tests.modelhelp import TINY_AMNET, build, fit_reduces_loss, onnx_parity, spread_heads, varied_inputs

VIDEO_MODELS = ("amnetvid", "amnet-mean", "amnet-rnn")


def amnet_spec():
    args = {k: v for k, v in TINY_AMNET.items() if k not in ("trunk", "size")}
    return get_entry("amnet").default_spec(size=64, num_frames=4, trunk="small", **args)


def video_spec(name: str):
    arch = {"map_size": 16, "hidden": 8} if name == "amnetvid" else {}
    return get_entry(name).default_spec(num_frames=3, amnet=TINY_AMNET, **arch)


def test_amnet_outputs_and_attention_maps():
    spec = amnet_spec()
    module = build(spec).eval()
    frames = varied_inputs(spec, 1)["frames"]  # 4 keyframes -> 4 rows
    outputs, maps = module.explain(frames)
    assert list(outputs) == list(spec.output_names) == ["score", "step_1", "step_2", "step_3"]
    assert all(v.shape == (4,) for v in outputs.values())
    steps = torch.stack([outputs[f"step_{k}"] for k in (1, 2, 3)], 1)
    torch.testing.assert_close(outputs["score"], steps.mean(1))
    assert list(maps) == ["step_1", "step_2", "step_3"]
    for value in maps.values():
        assert value.shape == (4, 4, 4)  # 64 px / 16 -> a 4 x 4 grid
        assert (value >= 0).all()
        torch.testing.assert_close(value.sum((1, 2)), torch.ones(4))
    assert module.attention(frames).keys() == maps.keys()


def test_amnet_default_is_the_paper_configuration():
    spec = get_entry("amnet").default_spec()
    assert spec.inputs[0].preprocess.crop == (224, 224)
    module = AMNet(AMNetConfig())
    assert module.grid == 14 and module.steps == 3
    assert module.core.inconv.in_channels == 1024 and module.core.inconv.out_channels == 512
    assert module.core.rnn.hidden_size == 1024
    assert not any(p.requires_grad for p in module.trunk.parameters())


@pytest.mark.parametrize("name", VIDEO_MODELS)
def test_video_models_outputs_and_maps(name):
    spec = video_spec(name)
    module = build(spec).eval()
    inputs = varied_inputs(spec, 2)
    assert inputs["frames"].shape == (2, 3, 3, 64, 64)
    outputs, maps = module.explain(**inputs)
    assert list(outputs) == list(spec.output_names)
    assert all(v.shape == (2,) for v in outputs.values())
    for value in maps.values():
        assert value.shape == (2, 3, 4, 4)
        torch.testing.assert_close(value.sum((2, 3)), torch.ones(2, 3))


def test_drawing_on_black_is_amnet_jet():
    # JET at 0, 0.5 and 1: dark blue, green, dark red (OpenCV's COLORMAP_JET end points).
    colours = jet(torch.tensor([0.0, 0.5, 1.0]))
    torch.testing.assert_close(colours, torch.tensor([[0.0, 0.0, 0.5], [0.5, 1.0, 0.5], [0.5, 0.0, 0.0]]))
    maps = torch.rand(2, 3, 4, 4)
    drawn = draw_on_black(maps, 8)
    assert drawn.shape == (2, 9, 8, 8)
    assert drawn.min() >= 0 and drawn.max() <= 0.5


@pytest.mark.parametrize("name", ["amnet", *VIDEO_MODELS])
def test_onnx_export_matches_pytorch(name, tmp_path):
    pytest.importorskip("onnxruntime")
    spec = amnet_spec() if name == "amnet" else video_spec(name)
    module = build(spec).eval()
    prefix = "" if name == "amnet" else "amnet."
    heads = {"amnetvid": ["head"], "amnet-rnn": ["head"]}.get(name, [])
    spread_heads(module, [prefix + "core.regnet4", *heads])
    result = onnx_parity(spec, module, tmp_path)
    assert result["max_abs_diff"] <= 1e-4, result
    assert result["spearman"] >= 0.999, result


@pytest.mark.parametrize("name", ["amnet", *VIDEO_MODELS])
def test_a_few_steps_reduce_the_loss(name):
    spec = amnet_spec() if name == "amnet" else video_spec(name)
    module = build(spec)
    if name != "amnet":  # a stand-in for a pretrained AMNet: frame scores that differ
        spread_heads(module, ["amnet.core.regnet4"])
    # AMNet's released dropouts (0.8 on the features, 0.5 elsewhere) slow its fit.
    before, after = fit_reduces_loss(spec, module, steps=20 if name == "amnet" else 30, lr=1e-2)
    assert after < 0.5 * before, (before, after)


def test_frozen_amnet_stays_in_eval_mode_inside_amnetvid():
    module = build(video_spec("amnetvid")).train()
    assert not module.amnet.training and not module.amnet.core.drop80.training
    assert module.cell.training
    assert not any(p.requires_grad for p in module.amnet.parameters())


def test_released_checkpoint_names_load(tmp_path):
    from safetensors.torch import save_file

    module = AMNet(AMNetConfig(**TINY_AMNET))
    inverse = {"trunk.body.": "core_cnn.core_cnn.", "core.": ""}
    released = {}
    for key, value in module.state_dict().items():
        for mine, theirs in inverse.items():
            if key.startswith(mine):
                name = theirs + key.removeprefix(mine)
                name = name + "_l0" if name.startswith("rnn.") else name
                released[name] = value.clone() + 1
    assert all(released_key(k) is not None for k in released)
    save_file(released, str(tmp_path / "released.safetensors"))
    fresh = AMNet(AMNetConfig(**TINY_AMNET))
    load_released_amnet(fresh, tmp_path / "released.safetensors")
    torch.testing.assert_close(fresh.core.rnn.weight_ih, module.core.rnn.weight_ih + 1)
    torch.testing.assert_close(fresh.trunk.body[0].weight, module.trunk.body[0].weight + 1)
    # the video models take the same checkpoint for their (frozen) AMNet
    path = str(tmp_path / "released.safetensors")
    video = build(video_spec("amnetvid").with_(arch_args={"amnet": TINY_AMNET, "amnet_weights": path}))
    torch.testing.assert_close(video.amnet.core.eh1.weight, module.core.eh1.weight + 1)
    assert not video.amnet.core.eh1.weight.requires_grad


def test_attention_penalty_is_zero_when_steps_spread_attention_evenly():
    # sum over 3 steps of 0.2 - alpha is zero where the steps' weights add up to 0.6.
    alphas = torch.full((2, 3, 4), 0.2)
    assert float(attention_penalty(alphas)) == 0.0
    assert float(attention_penalty(torch.rand(2, 3, 4))) > 0


@pytest.mark.parametrize("name", ["amnet", *VIDEO_MODELS])
def test_spec_names_the_trained_outputs(name):
    spec = get_entry(name).default_spec()
    assert spec.metadata["head_losses"] == {"score": "mse"}
    assert set(spec.metadata["attention"]) == {"step_1", "step_2", "step_3"}
    assert spec.unit == ("frame" if name == "amnet" else "video")


@pytest.mark.parametrize("name", VIDEO_MODELS)
def test_which_models_see_frame_order(name):
    """AMNet mean is blind to the order of frames; the recurrent models are not."""
    spec = video_spec(name)
    module = build(spec).eval()
    spread_heads(module, ["amnet.core.regnet4", *(["head"] if name != "amnet-mean" else [])])
    frames = varied_inputs(spec, 2)["frames"]
    frames = frames * torch.linspace(0.5, 1.5, 3).view(1, 3, 1, 1, 1)  # frames differ in time
    with torch.no_grad():
        forward = module(frames=frames)["score"]
        backward = module(frames=frames.flip(1))["score"]
    if name == "amnet-mean":
        torch.testing.assert_close(forward, backward)
    else:
        assert (forward - backward).abs().max() > 1e-4
