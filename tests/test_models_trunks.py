"""Trunks: shapes, weights from files only, frozen trunks stay in eval, BN re-estimation, profile."""

from __future__ import annotations

import pytest
import torch

from memo.errors import BundleError
from memo.models.profile import count_params, gflops_per_video, train_step_rate, video_inputs
from memo.models.registry import create_model, get_entry
from memo.models.trunks import (
    build_clip_trunk,
    build_frame_trunk,
    grid_size,
    reestimate_batchnorm,
)
from memo.models.weights import load_weights


@pytest.mark.parametrize(("name", "channels"), [("small", 32), ("resnet18", 256)])
def test_frame_trunk_is_cut_at_stride_16(name, channels):
    trunk = build_frame_trunk(name, width=4).eval()
    with torch.no_grad():
        out = trunk(torch.rand(1, 3, 72, 72))
    assert out.shape == (1, channels, grid_size(72), grid_size(72)) == (1, channels, 5, 5)
    assert trunk.out_channels == channels


def test_clip_trunk_gives_a_vector():
    trunk = build_clip_trunk("small", width=4).eval()
    with torch.no_grad():
        assert trunk(torch.rand(2, 3, 4, 32, 32)).shape == (2, 16)
    assert build_clip_trunk("r3d_18").out_channels == 512


def test_the_small_trunk_is_one_network_in_2d_and_3d():
    """Frame and clip ``small`` trunks: the same blocks (conv 3, BatchNorm, ReLU; channels
    doubling from ``width``), 2-D for frames and 3-D for clips, under the keys bundles hold."""
    frame, clip = build_frame_trunk("small", width=4).body, build_clip_trunk("small", width=4).body
    kinds = ["Conv", "BatchNorm", "ReLU"]
    assert [type(m).__name__.rstrip("23d") for m in frame] == kinds * 4
    assert [type(m).__name__.rstrip("23d") for m in clip] == [*kinds * 3, "AdaptiveAvgPool", "Flatten"]
    for flat, deep in zip(frame[:9], clip[:9], strict=True):
        if isinstance(flat, torch.nn.Conv2d):
            assert (flat.in_channels, flat.out_channels) == (deep.in_channels, deep.out_channels)
            assert flat.kernel_size == deep.kernel_size[1:] == (3, 3)
        if isinstance(flat, torch.nn.BatchNorm2d):
            assert flat.num_features == deep.num_features
    block = ["weight", "bias"], ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]

    def keys(blocks: int) -> list[str]:
        return [f"{3 * i + j}.{k}" for i in range(blocks) for j, names in enumerate(block) for k in names]

    assert list(frame.state_dict()) == keys(4)
    assert list(clip.state_dict()) == keys(3)
    assert [frame[3 * i].out_channels for i in range(4)] == [4, 8, 16, 32]
    assert [clip[3 * i].stride for i in range(3)] == [(1, 2, 2), (2, 2, 2), (2, 2, 2)]


def test_weights_load_from_a_full_torchvision_state_dict(tmp_path):
    import torchvision
    from safetensors.torch import save_file

    source = torchvision.models.resnet18(weights=None)
    save_file(source.state_dict(), str(tmp_path / "r18.safetensors"))
    torch.save({"state_dict": source.state_dict()}, tmp_path / "r18.pt")
    for name in ("r18.safetensors", "r18.pt"):
        trunk = build_frame_trunk("resnet18")
        loaded = load_weights(trunk.body, tmp_path / name).loaded
        assert loaded == len(trunk.body.state_dict())
        torch.testing.assert_close(trunk.body.layer3[0].conv1.weight, source.layer3[0].conv1.weight)


def test_weights_that_do_not_fit_fail_with_the_file_name(tmp_path):
    import torchvision
    from safetensors.torch import save_file

    save_file(torchvision.models.resnet18(weights=None).state_dict(), str(tmp_path / "r18.safetensors"))
    with pytest.raises(BundleError, match=r"r18\.safetensors: .*shape"):
        load_weights(build_frame_trunk("resnet50").body, tmp_path / "r18.safetensors")
    with pytest.raises(BundleError, match="not found"):
        load_weights(build_frame_trunk("small").body, tmp_path / "missing.safetensors")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(BundleError, match=r"junk\.pt: unreadable"):
        load_weights(build_frame_trunk("small").body, tmp_path / "junk.pt")


def test_frozen_trunk_stays_in_eval_mode():
    model = create_model("amnet", trunk="small", width=4, size=64, attn_dim=8, hidden=8).train()
    assert not model.trunk.body.training and model.core.training
    assert not any(p.requires_grad for p in model.trunk.parameters())
    trainable = create_model(
        "amnet", trunk="small", width=4, size=64, attn_dim=8, hidden=8, train_trunk=True
    ).train()
    assert trainable.trunk.body.training


def test_reestimate_batchnorm_matches_the_data():
    trunk = build_frame_trunk("small", width=4)
    batches = [torch.rand(4, 3, 32, 32) * 5 + 2 for _ in range(3)]
    assert reestimate_batchnorm(trunk, batches) == 3
    first = trunk.body[1]
    with torch.no_grad():
        acts = torch.cat([trunk.body[0](b) for b in batches])
    torch.testing.assert_close(first.running_mean, acts.mean((0, 2, 3)), rtol=1e-4, atol=1e-4)
    assert not first.training


def test_profile_counts_params_and_flops():
    spec = get_entry("framecnn").default_spec(size=32, num_frames=7)
    module = create_model("framecnn", width=8)
    assert count_params(module) == sum(p.numel() for p in module.parameters())
    assert video_inputs(spec)["frames"].shape == (7, 3, 32, 32)
    # first conv alone: 7 frames x 16 x 16 outputs x 8 channels x 27 MACs x 2
    first = 7 * 16 * 16 * 8 * 27 * 2
    flops = gflops_per_video(spec, module) * 1e9
    assert flops > first
    assert next(module.parameters()).device.type == "cpu"  # counted on a copy
    before = module.head.weight.clone()
    assert train_step_rate(spec, module, videos=2, steps=1, warmup=0) > 0
    assert not torch.equal(before, module.head.weight)  # it really trained


@pytest.mark.slow
def test_resmem_trunk_is_resmems_own_resnet(resmem_bundle, monkeypatch):
    monkeypatch.setenv("MEMO_HOME", str(resmem_bundle.path.parent.parent))
    trunk = build_frame_trunk("resmem").eval()
    full = resmem_bundle.build_module()
    x = torch.rand(1, 3, 227, 227)
    with torch.no_grad():
        f = full.features
        want = f.layer3(f.layer2(f.layer1(f.maxpool(f.relu(f.bn1(f.conv1(x)))))))
        torch.testing.assert_close(trunk(x), want)


@pytest.mark.parametrize("variant", ["r3d_18", "r2plus1d_18"])
def test_clip_trunk_is_torchvisions_video_resnet_key_for_key(variant):
    """Built by memo (one clip-trunk builder) yet a torchvision checkpoint loads unchanged, and
    the output is torchvision's."""
    import torchvision

    reference = torchvision.models.get_model(variant, weights=None).eval()
    reference.fc = torch.nn.Identity()
    trunk = build_clip_trunk(f"torchvision:{variant}").eval()
    own = {k: tuple(v.shape) for k, v in trunk.body.state_dict().items()}
    assert own == {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    trunk.body.load_state_dict(reference.state_dict())
    clip = torch.rand(1, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(trunk(clip), reference(clip))


def test_frame_trunk_is_torchvisions_resnet_to_layer3():
    import torchvision

    reference = torchvision.models.resnet18(weights=None).eval()
    trunk = build_frame_trunk("resnet18").eval()
    trunk.body.load_state_dict({k: v for k, v in reference.state_dict().items() if k.split(".")[0] in
                                ("conv1", "bn1", "layer1", "layer2", "layer3")})  # fmt: skip
    x = torch.rand(1, 3, 64, 64)
    r = reference
    with torch.no_grad():
        want = r.layer3(r.layer2(r.layer1(r.maxpool(r.relu(r.bn1(r.conv1(x)))))))
        torch.testing.assert_close(trunk(x), want)
