"""What an export fixes is recorded in the bundle and checked before scoring: an exported
graph keeps only its batch axis dynamic, so AMNetVid's ConvLSTM is unrolled for the spec's
frame count, and ``memo score --frames N`` on that export is refused before any video is read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from memo.cli import app
from memo.export.shapes import fixed_frames
from memo.models.amnetvid import amnetvid_spec
from memo.models.bundle import Bundle, save_bundle
from memo.models.registry import create_model
from memo.models.tiny import framecnn_spec

pytest.importorskip("onnxruntime")

SMALL_AMNET = {"trunk": "small", "width": 4, "size": 32, "attn_dim": 16, "hidden": 16}


@pytest.fixture(scope="module")
def amnetvid(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    spec = amnetvid_spec(num_frames=4, amnet=SMALL_AMNET, map_size=8, hidden=4)
    torch.manual_seed(0)
    module = create_model("amnetvid", **spec.arch_args)
    return save_bundle(tmp_path_factory.mktemp("b") / "amnetvid", spec, module.state_dict())


def _run(*args: str) -> tuple[int, str]:
    done = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    return done.exit_code, done.output


def test_the_frame_axes_an_export_fixes() -> None:
    assert fixed_frames(amnetvid_spec(num_frames=5)) == {"frames": 5}
    assert fixed_frames(framecnn_spec()) == {}  # frame models: one frame per row, any count per video


def test_frames_refused_on_a_fixed_step_export_before_scoring(
    amnetvid: Bundle, sample_dir: Path, tmp_path: Path
) -> None:
    code, out = _run("export", str(amnetvid.path), "--onnx", "--videos", str(sample_dir), "-q")
    assert code == 0, out
    record = json.loads((amnetvid.path / "export.json").read_text())["artifacts"]["model.onnx"]
    assert record["fixed_frames"] == {"frames": 4}
    video = str(sorted(sample_dir.iterdir())[0])
    output = tmp_path / "scores.csv"
    code, out = _run(
        "score", video, "-m", str(amnetvid.path), "--backend", "onnx", "--frames", "3", "-o", str(output)
    )
    assert code != 0 and "--frames 3" in out and "fixed at 4 frames" in out, out
    assert not output.exists()  # refused before any row
    code, out = _run(
        "score",
        video,
        "-m",
        str(amnetvid.path),
        "--backend",
        "torch",
        "--frames",
        "3",
        "-o",
        str(output),
        "-q",
    )
    assert code == 0, out  # PyTorch runs the loop for any frame count
    code, out = _run(
        "score", video, "-m", str(amnetvid.path), "--backend", "onnx", "-o", str(tmp_path / "o.csv"), "-q"
    )
    assert code == 0, out
