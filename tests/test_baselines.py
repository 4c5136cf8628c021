"""VideoMem baselines and the CNN+Transformer: shapes, attention maps, trunks, stages, overfitting."""

from __future__ import annotations

import pytest
import torch
import torchvision
from scipy.stats import spearmanr

from memo.errors import BundleError
from memo.models.attention import EncoderLayer, attention_rollout
from memo.models.registry import create_model, list_models
from memo.models.resnet3d import VideoTrunk
from memo.models.stages import stage_from_json
from memo.models.trunks import ResNetTrunk

from .baselinehelp import TINY, one_torch_thread, tiny_inputs, tiny_model  # noqa: F401 (fixture)


def test_registered_with_papers() -> None:
    from memo.models.registry import get_entry

    assert {"resnet3d", "semantic-embedding", "cnn-transformer"} <= set(list_models())
    assert "Cohendet" in get_entry("resnet3d").paper and "Cohendet" in get_entry("semantic-embedding").paper
    assert "Seeing Eye to AI" in get_entry("cnn-transformer").paper
    assert (
        "VideoMem" in get_entry("resmem").paper
        and "VideoMem" in get_entry("resmem").default_spec().description
    )


@pytest.mark.parametrize("config", sorted(TINY))
def test_forward_gives_one_score_per_video(config: str) -> None:
    module, spec = tiny_model(config)
    out = module.eval()(**tiny_inputs(spec, 3))
    assert list(out) == list(spec.output_names) and out["score"].shape == (3,)
    assert ((out["score"] > 0) & (out["score"] < 1)).all()
    stages = [stage_from_json(s) for s in spec.metadata["recipe"]]
    assert stages and all(s.loss in ("mse", "l1", "ranking") for s in stages)


def test_clip_input_layout_is_c_t_h_w() -> None:
    _, spec = tiny_model("resnet3d")
    assert tiny_inputs(spec, 1)["clip"].shape == (1, 3, 4, 32, 32)
    assert spec.inputs[0].stream == "clip" and spec.unit == "video"


def test_semantic_attention_maps_are_spatial_softmaxes() -> None:
    module, spec = tiny_model("semantic-embedding")
    frames = tiny_inputs(spec, 2)["frames"]  # (2, 3 frames, 3, 64, 64); 3 stages: stride 16
    outputs, named = module.eval().explain(frames)
    maps = named["attention"]
    assert list(named) == spec.metadata["attention"] == ["attention"]
    assert maps.shape == (2, 3, 4, 4)
    torch.testing.assert_close(maps.sum((2, 3)), torch.ones(2, 3))
    torch.testing.assert_close(outputs["score"], module(frames=frames)["score"])
    scores, per_frame_maps = module.frame_scores(frames)
    assert scores.shape == (2, 3, 1)
    torch.testing.assert_close(module(frames=frames)["score"], scores.mean(1)[:, 0])
    torch.testing.assert_close(per_frame_maps, maps)


def test_semantic_without_attention_has_no_maps() -> None:
    from memo.models.registry import get_entry

    spec = get_entry("semantic-embedding").default_spec(**{**TINY["semantic-embedding"], "attention": False})
    module = create_model("semantic-embedding", **spec.arch_args)
    assert module.attention(**tiny_inputs(spec, 1)) == {} and spec.metadata["attention"] == []


def test_transformer_rollout_is_spatio_temporal() -> None:
    module, spec = tiny_model("cnn-transformer")
    frames = tiny_inputs(spec, 2)["frames"]
    outputs, named = module.eval().explain(frames)
    maps = named["rollout"]
    assert list(named) == spec.metadata["attention"] == ["rollout"]
    torch.testing.assert_close(outputs["score"], module(frames=frames)["score"])
    assert maps.shape == (2, 3, 4, 4)  # (B, T, h, w)
    assert (maps >= 0).all() and (maps.sum((1, 2, 3)) < 1).all()
    # Rollout of a single layer with uniform attention and no residual is that attention.
    uniform = torch.full((1, 2, 5, 5), 0.2)
    torch.testing.assert_close(attention_rollout([uniform], residual=0.0), torch.full((1, 5, 5), 0.2))


def test_encoder_layer_matches_pytorch_transformer_layer() -> None:
    torch.manual_seed(0)
    reference = torch.nn.TransformerEncoderLayer(32, 4, 64, batch_first=True).eval()
    mine = EncoderLayer(32, 4, 64).eval()
    mine.load_state_dict(reference.state_dict())
    x = torch.rand(2, 7, 32)
    out, weights = mine(x)
    torch.testing.assert_close(out, reference(x), atol=1e-5, rtol=1e-5)
    assert weights.shape == (2, 4, 7, 7)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 4, 7))


@pytest.mark.parametrize("variant", ["r3d_18", "r2plus1d_18"])
def test_video_trunk_is_torchvisions(variant: str) -> None:
    torch.manual_seed(0)
    reference = getattr(torchvision.models.video, variant)(weights=None).eval()
    reference.fc = torch.nn.Identity()
    trunk = VideoTrunk(variant).eval()
    trunk.load_state_dict(reference.state_dict(), strict=True)
    clip = torch.rand(1, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(trunk(clip), reference(clip))


def test_frame_trunk_loads_a_torchvision_checkpoint_file(tmp_path) -> None:
    torch.manual_seed(0)
    reference = torchvision.models.resnet18(weights=None).eval()
    path = tmp_path / "resnet18.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in reference.state_dict().items()}}, path)
    module, _ = tiny_model("cnn-transformer")
    from memo.models.cnn_transformer import CNNTransformer, CNNTransformerConfig

    config = CNNTransformerConfig(trunk="resnet18", num_frames=1, dim=32, heads=4, ff=64, hidden=16)
    full = CNNTransformer(config).eval()
    report = full.load_backbone(path)
    assert report.unused == ("fc.bias", "fc.weight")
    frames = torch.rand(1, 3, 64, 64)
    body = torch.nn.Sequential(*list(reference.children())[:-2])
    with torch.no_grad():
        torch.testing.assert_close(full.trunk(frames), body(frames))
    with pytest.raises(BundleError, match="shape"):
        module.load_backbone(path)  # a width-8 trunk has ResNet-18's names, not its shapes
    assert isinstance(full.trunk, ResNetTrunk)


def test_two_stage_fine_tuning_freezes_the_trunk() -> None:
    module, spec = tiny_model("resnet3d")
    first, second = (stage_from_json(s) for s in spec.metadata["recipe"])
    assert (first.train, second.train) == ("head", "all") and second.lr < first.lr
    params = module.set_stage(first.train)
    module.train()
    assert {id(p) for p in params} == {id(p) for p in module.head.parameters()}
    trunk_before = {k: v.clone() for k, v in module.trunk.state_dict().items()}
    optimiser = torch.optim.SGD(params, lr=0.1)
    loss = module(**tiny_inputs(spec, 4))["score"].sum()
    loss.backward()
    optimiser.step()
    for key, value in module.trunk.state_dict().items():  # weights and BatchNorm statistics
        torch.testing.assert_close(value, trunk_before[key])
    assert len(module.set_stage(second.train)) == len(list(module.parameters()))
    module.train()
    assert module.trunk.training


@pytest.mark.parametrize("config", sorted(TINY))
def test_overfits_a_few_videos(config: str) -> None:
    module, spec = tiny_model(config)
    inputs = tiny_inputs(spec, 6, seed=1)
    target = torch.linspace(0.2, 0.9, 6)
    optimiser = torch.optim.Adam(module.parameters(), lr=3e-3)
    module.train()
    for _ in range(40):
        optimiser.zero_grad()
        loss = torch.nn.functional.mse_loss(module(**inputs)["score"], target)
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        pred = module.eval()(**inputs)["score"]
    assert spearmanr(pred.numpy(), target.numpy())[0] >= 0.9, pred


def test_costs_on_meta_match_a_real_run_and_torchvision() -> None:
    from torch.utils.flop_counter import FlopCounterMode

    from memo.models.profile import gflops_per_video
    from memo.models.registry import get_entry

    module, spec = tiny_model("cnn-transformer")
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        module.eval()(**tiny_inputs(spec, 1))
    assert gflops_per_video(spec, module) == pytest.approx(counter.get_total_flops() / 1e9)
    # torchvision states 40.70 GMACs for r3d_18 on 16 x 112 x 112; the counter counts 2 per MAC.
    spec = get_entry("resnet3d").default_spec()
    with torch.device("meta"):
        default = create_model("resnet3d", **spec.arch_args)
    assert gflops_per_video(spec, default) == pytest.approx(81.4, abs=0.1)


def _moving_squares(pairs: int, frames: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(2*pairs, T, 3, S, S)``: a square moving right, then the same frames in reverse order."""
    g = torch.Generator().manual_seed(seed)
    clips = torch.rand(pairs, 1, 3, size, size, generator=g).expand(-1, frames, -1, -1, -1) * 0.2
    clips = clips.clone()
    for i in range(pairs):
        x0, y0 = (int(v) for v in torch.randint(0, size // 3, (2,), generator=g))
        colour = (torch.rand(3, generator=g) * 0.5 + 0.5)[:, None, None]
        for t in range(frames):
            x = x0 + t * (size // (2 * frames))
            clips[i, t, :, y0 : y0 + 8, x : x + 8] = colour
    targets = torch.cat([torch.full((pairs,), 0.8), torch.full((pairs,), 0.2)])
    return torch.cat([clips, clips.flip(1)]), targets


def test_temporal_models_see_frame_order_and_the_frame_average_does_not() -> None:
    frames, _ = _moving_squares(2, 3, 64, seed=0)
    for config, sensitive in (("cnn-transformer", True), ("semantic-embedding", False)):
        module, _spec = tiny_model(config)
        with torch.no_grad():
            scores = module.eval()(frames=frames)["score"]
        same = torch.allclose(scores[:2], scores[2:], atol=1e-6)
        assert same is not sensitive, (config, scores)


def test_resnet3d_learns_motion_direction_on_held_out_clips() -> None:
    module, _spec = tiny_model("resnet3d")
    x, y = _moving_squares(8, 4, 32, seed=1)
    held_x, _ = _moving_squares(4, 4, 32, seed=2)
    optimiser = torch.optim.Adam(module.parameters(), lr=3e-3)
    module.train()
    for _ in range(50):
        optimiser.zero_grad()
        torch.nn.functional.mse_loss(module(clip=x.transpose(1, 2))["score"], y).backward()
        optimiser.step()
    with torch.no_grad():
        scores = module.eval()(clip=held_x.transpose(1, 2))["score"]
    forward, backward = scores[:4], scores[4:]
    assert (forward > backward).float().mean() >= 0.75 and (forward - backward).mean() > 0.2, scores


@pytest.mark.parametrize(("layers", "size"), [((1, 1, 1), 64), ((1, 1, 1, 1), 50), ((1,), 33)])
def test_trunk_grid_matches_its_output(layers, size) -> None:
    trunk = ResNetTrunk("resnet18", 4, layers).eval()
    with torch.no_grad():
        out = trunk(torch.zeros(1, 3, size, size))
    assert out.shape[2:] == (trunk.grid(size), trunk.grid(size))


def test_transformer_learns_to_tell_a_clip_from_its_reverse() -> None:
    """Same frames, opposite order, different targets: impossible for a frame average."""

    _, spec = tiny_model("cnn-transformer")
    torch.manual_seed(0)
    module = create_model("cnn-transformer", **{**spec.arch_args, "spatial_pos": False})
    assert module.space_pos is None  # the literal reading: temporal position embedding only
    x, y = _moving_squares(8, 3, 64, seed=1)
    optimiser = torch.optim.Adam(module.parameters(), lr=1e-3)
    module.train()
    for _ in range(300):
        optimiser.zero_grad()
        loss = torch.nn.functional.mse_loss(module(frames=x)["score"], y)
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        scores = module.eval()(frames=x)["score"]
    assert (scores[:8] > scores[8:]).all(), scores


def test_backbone_weights_from_safetensors_and_bad_files(tmp_path) -> None:
    from safetensors.torch import save_file

    source, spec = tiny_model("resnet3d", seed=1)
    path = tmp_path / "r3d.safetensors"
    save_file({f"backbone.{k}": v.contiguous() for k, v in source.trunk.state_dict().items()}, str(path))
    built = create_model("resnet3d", backbone_weights=str(path), **spec.arch_args)
    for key, value in source.trunk.state_dict().items():
        torch.testing.assert_close(built.trunk.state_dict()[key], value)
    partial = tmp_path / "partial.safetensors"
    save_file({k: v.contiguous() for k, v in list(source.trunk.state_dict().items())[:3]}, str(partial))
    with pytest.raises(BundleError, match="missing"):
        built.load_backbone(partial)
    with pytest.raises(BundleError, match="not found"):
        built.load_backbone(tmp_path / "nope.pt")
