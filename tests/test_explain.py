"""`memo explain`: overlays and contact sheets are real PNGs that show the model's maps."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from memo.explain.gradcam import gradcam
from memo.explain.render import contact_sheet, crop_box, heat_colours, overlay
from tests.conftest import memo_command, subprocess_env


def test_heat_colours_are_ordered_dark_to_bright() -> None:
    rgb = heat_colours(np.linspace(0, 1, 11)).astype(int)
    brightness = rgb.sum(axis=1)
    assert (np.diff(brightness) > 0).all()
    assert tuple(rgb[0]) == (0, 0, 4)


def test_overlay_is_brightest_where_the_map_peaks() -> None:
    frame = np.full((64, 96, 3), 100, dtype=np.uint8)
    amap = np.zeros((4, 6), dtype=np.float32)
    amap[3, 5] = 1.0  # bottom-right cell
    image = np.asarray(overlay(frame, amap), dtype=int).sum(axis=2)
    assert image.shape == (64, 96)
    assert image[60, 90] > image[4, 4] + 150


def test_contact_sheet_has_a_row_per_map() -> None:
    cells = [Image.new("RGB", (40, 30), (255, 0, 0)) for _ in range(3)]
    sheet = contact_sheet([("frames", cells), ("cam", cells)], "title", cell=60)
    assert sheet.height > 2 * 60 and sheet.width >= 3 * 80


def test_memo_explain_writes_readable_pngs(framecnn_bundle, sample_dir: Path, tmp_path: Path) -> None:
    videos = sorted(str(p) for p in sample_dir.iterdir())[:2]
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"nope" * 100)
    out = tmp_path / "explain"
    proc = subprocess.run(
        [*memo_command(), "explain", *videos, str(bad), "-m", str(framecnn_bundle.path), "-o", str(out), "--json"],
        capture_output=True, text=True, env=subprocess_env(), timeout=300,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr  # the bad file fails alone
    rows = json.loads(proc.stdout)
    assert [r["error"] is None for r in rows] == [True, True, False]
    assert "bad.mp4" in rows[2]["error"]
    for row in rows[:2]:
        folder = Path(row["folder"])
        assert row["maps"] == ["cam"]
        cams = sorted(folder.glob("cam_f*.png"))
        assert len(cams) == 7  # one per keyframe of framecnn's spec
        with Image.open(cams[0]) as image:  # the frame at its own size (64x48), not the model's 32x32
            assert image.size == (64, 48) and image.mode == "RGB"
        with Image.open(folder / "contact_sheet.png") as sheet:
            sheet.load()
            assert sheet.height > 2 * 32
        scores = json.loads((folder / "scores.json").read_text())
        assert 0.0 <= scores["score"] <= 1.0 and len(scores["score_per_frame"]) == 7


def test_explain_draws_vmemnets_two_attention_maps(tmp_path: Path) -> None:
    from memo.explain import ExplainOptions, explain_videos
    from memo.models.bundle import save_bundle
    from memo.models.registry import create_model
    from memo.models.vmemnet import vmemnet_spec
    from tests.conftest import shared_video

    video = shared_video("bikes.mp4")
    spec = vmemnet_spec(
        num_frames=3, size=64, trunk="small", clip_frames=4, clip_size=32,
        width=4, attn_dim=16, hidden=16, fused_dim=16,
    )  # fmt: skip
    bundle = save_bundle(tmp_path / "vm", spec, create_model("vmemnet", **spec.arch_args).state_dict())
    (result,) = explain_videos(ExplainOptions([str(video)], tmp_path / "out", model=str(bundle.path)))
    assert result.error is None and result.maps == ["semantic", "spatial"]
    assert {"score", "semantic", "spatial"} <= set(result.scores)
    names = sorted(p.name for p in result.folder.glob("*.png"))  # type: ignore[union-attr]
    assert names == sorted(
        ["contact_sheet.png"] + [f"{m}_f{k}.png" for m in ("semantic", "spatial") for k in range(3)]
    )


class _RedCounter(nn.Module):
    """Two feature channels (red, green); the score reads only the red one: Grad-CAM must peak
    where the frame is red and ignore the green patch."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1, bias=False)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.weight[0, 0] = 1.0  # channel 0: red
            self.conv.weight[1, 1] = 1.0  # channel 1: green

    def forward(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"score": torch.sigmoid(self.conv(frames)[:, 0].mean(dim=(1, 2)))}


def test_gradcam_peaks_where_the_score_comes_from() -> None:
    frames = torch.zeros(2, 3, 16, 16)
    frames[:, 0, :4, :4] = 1.0  # red, top left
    frames[:, 1, 12:, 12:] = 1.0  # green, bottom right: the score does not read it
    cam = gradcam(_RedCounter().eval(), {"frames": frames})
    assert cam is not None and cam.layer == "conv"
    maps = cam.maps["gradcam_score"]
    assert maps.shape == (1, 2, 16, 16)
    assert float(maps[0, 0, :4, :4].min()) > 0 and float(maps[0, 0, 12:, 12:].max()) == 0.0


def test_crop_box_is_the_part_of_the_frame_the_model_saw() -> None:
    assert crop_box(1920, 1080, (256, 256), (227, 227)) == (109, 61, 1811, 1019)  # stretched, then cropped
    assert crop_box(1920, 1080, (128,), (112, 112)) == (488, 68, 1432, 1012)  # shorter side, then a square
    assert crop_box(64, 48, (32, 32), (32, 32)) == (0, 0, 64, 48)


def test_explain_draws_gradcam_for_a_model_without_attention(tmp_path: Path) -> None:
    """resnet3d has no attention: memo explain draws Grad-CAM on its last 3D convolution, over the
    frames at their own aspect ratio, and says which layer."""
    from memo.data.synthetic import write_video
    from memo.explain import ExplainOptions, explain_videos
    from tests.baselinehelp import tiny_bundle

    video = tmp_path / "wide.mp4"
    write_video(video, "h264", frames=24, fps=12, width=96, height=40, seed=3)
    bundle = tiny_bundle("resnet3d", tmp_path / "r3d")
    (result,) = explain_videos(ExplainOptions([str(video)], tmp_path / "out", model=str(bundle.path)))
    assert result.error is None and result.maps == ["gradcam_score"]
    assert result.method == "Grad-CAM on trunk.layer4"
    overlays = sorted(p for p in result.files if p.name.startswith("gradcam_score_f"))
    assert overlays
    with Image.open(overlays[0]) as image:
        assert image.size == (96, 40)
    scores = json.loads((result.folder / "scores.json").read_text())  # type: ignore[operator]
    assert scores["maps"] == result.method and 0.0 < scores["score"] < 1.0
