"""`memo score --decoder dali` on the CPU: same scores as PyAV, and one bad file stays alone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr
from typer.testing import CliRunner

from memo.cli import app
from memo.data.decoders.dali import DaliDecoder, dali_version
from memo.data.synthetic import KINDS, write_video
from memo.score import ScoreOptions, score_videos
from memo.score.writers import read_results

from .conftest import SHARED_VIDEOS

pytestmark = pytest.mark.skipif(
    dali_version() is None, reason="NVIDIA DALI is not installed (pip install 'memo[dali]')"
)


@pytest.fixture(scope="module")
def webm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dali_score")
    for i in range(9):  # 160x120 downscaled to 32x32: decoder differences mostly average out
        kind = ("vp8", "vp9", "mjpeg")[i % 3]
        write_video(folder / f"v{i}{KINDS[kind][0]}", kind, frames=24, fps=12, width=160, height=120, seed=i)
    return folder


def _score(inputs: list[str], out: Path, bundle_path: Path, decoder: str) -> dict[str, dict]:
    args = ["score", *inputs, "-o", str(out), "-m", str(bundle_path), "--device", "cpu"]
    done = CliRunner().invoke(app, [*args, "--decoder", decoder, "--json"], env={"COLUMNS": "200"})
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["decoder"] == decoder
    return {row["path"]: row for row in read_results(out)}


def test_scores_with_dali_match_pyav(webm_dir: Path, framecnn_bundle, tmp_path: Path) -> None:
    inputs = [str(webm_dir)] + [str(p) for p in sorted(SHARED_VIDEOS.glob("*.webm"))]
    pyav = _score(inputs, tmp_path / "pyav.csv", framecnn_bundle.path, "pyav")
    dali = _score(inputs, tmp_path / "dali.csv", framecnn_bundle.path, "dali")
    assert set(pyav) == set(dali) and len(pyav) >= 9
    assert {row["decoder"] for row in dali.values()} == {"dali"}
    assert {row["decoder"] for row in pyav.values()} == {"pyav"}
    paths = sorted(pyav)
    a = np.array([float(pyav[p]["score"]) for p in paths])
    b = np.array([float(dali[p]["score"]) for p in paths])
    assert np.max(np.abs(a - b)) <= 1e-3
    assert spearmanr(a, b).statistic >= 0.99


def test_bad_files_in_a_batch_fall_back_or_fail_alone(
    webm_dir: Path, framecnn_bundle, tmp_path: Path
) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    good = [webm_dir / "v0.webm", webm_dir / "v1.webm", webm_dir / "v2.avi"]
    h264 = write_video(folder / "c_h264.mp4", "h264", frames=24, fps=12, width=48, height=40, seed=3)
    junk = folder / "b_junk.webm"
    junk.write_bytes(b"\x1a\x45\xdf\xa3" + b"\x00" * 4000)  # a WebM signature and nothing else
    inputs = [str(good[0]), str(junk), str(h264), str(good[1]), str(good[2])]
    options = dict(model=str(framecnn_bundle.path), device="cpu", decoder="dali", batch_size=3, workers=2)
    summary = score_videos(ScoreOptions(inputs=inputs, output=tmp_path / "all.csv", **options))
    rows = {row["path"]: row for row in read_results(tmp_path / "all.csv")}
    assert summary.failed == 1 and rows[str(junk)]["status"] == "failed"
    assert str(junk) in rows[str(junk)]["error"]
    assert rows[str(h264)]["decoder"] == "pyav" and "does not decode h264" in rows[str(h264)]["warning"]
    for path in [*good, h264]:  # each row holds its own file's score, as when scored alone
        alone = score_videos(
            ScoreOptions(inputs=[str(path)], output=tmp_path / f"{path.stem}.csv", **options)
        )
        assert float(rows[str(path)]["score"]) == pytest.approx(alone.scores[0][1], abs=1e-6)


def test_a_file_dali_fails_on_falls_back_and_the_next_file_decodes(
    webm_dir: Path, framecnn_bundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Let DALI try H.264 on its CPU backend, which it cannot decode: the failure is DALI's own.
    monkeypatch.setattr(DaliDecoder, "unsupported", lambda self, info: None)
    h264 = write_video(tmp_path / "a_h264.mp4", "h264", frames=24, fps=12, width=48, height=40, seed=3)
    inputs = [str(h264), str(webm_dir / "v0.webm")]
    options = ScoreOptions(
        inputs=inputs, output=tmp_path / "s.csv", model=str(framecnn_bundle.path), device="cpu",
        decoder="dali", workers=1,
    )  # fmt: skip
    summary = score_videos(options)
    rows = {row["path"]: row for row in read_results(tmp_path / "s.csv")}
    assert summary.failed == 0
    assert rows[str(h264)]["decoder"] == "pyav"
    assert "DALI could not decode it" in rows[str(h264)]["warning"]
    assert "h264" in rows[str(h264)]["warning"]
    assert rows[inputs[1]]["decoder"] == "dali"  # the failed pipeline was replaced


def test_backend_receives_cuda_tensors_from_dali(webm_dir: Path, framecnn_bundle, tmp_path: Path) -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU (none here): the DALI GPU path (NVDEC, CUDA tensors) is unverified")
    from memo.runtime import torch_backend

    seen: list[object] = []
    run = torch_backend.TorchSession.run

    def spy(self, inputs):  # type: ignore[no-untyped-def]
        seen.extend(inputs.values())
        return run(self, inputs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch_backend.TorchSession, "run", spy)
        options = ScoreOptions(
            inputs=[str(webm_dir)], output=tmp_path / "gpu.csv", model=str(framecnn_bundle.path),
            device="cuda", decoder="dali",
        )  # fmt: skip
        summary = score_videos(options)
    assert summary.failed == 0 and seen
    assert all(isinstance(x, torch.Tensor) and x.is_cuda for x in seen)
