"""`memo explain`: overlays and contact sheets are real PNGs that show the model's maps."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image

from memo.explain.render import contact_sheet, heat_colours, overlay
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
        with Image.open(cams[0]) as image:
            assert image.size == (32, 32) and image.mode == "RGB"
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
