"""--decoder beyond `memo score`: the training frame cache and `memo explain` (DALI-CPU on WebM)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from memo.data.decoders import resolve_decoder
from memo.data.decoders.dali import dali_version
from memo.data.frame_cache import FrameCache
from memo.data.synthetic import KINDS, write_video
from memo.models.spec import InputSpec, ModelSpec, Preprocess
from tests.conftest import memo_command, subprocess_env

needs_dali = pytest.mark.skipif(
    dali_version() is None, reason="NVIDIA DALI is not installed (pip install 'memo[dali]')"
)
MEAN_LEVELS = 3.0  # mean |DALI - PyAV| in 8-bit levels, as tests/test_dali_decoder.py states it


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("decoder_options")
    made = {}
    for i, kind in enumerate(["vp8", "vp9", "h264"]):
        made[kind] = write_video(
            folder / f"{kind}{KINDS[kind][0]}", kind, frames=24, fps=12, width=96, height=72, seed=i
        )
    return made


def _spec() -> ModelSpec:
    pre = Preprocess(resize=(40,), crop=(32, 32))
    return ModelSpec(
        name="cache-test",
        architecture="framecnn",
        unit="video",
        inputs=(
            InputSpec("frames", "keyframes", num_frames=3, preprocess=pre),
            InputSpec("clip", "clip", num_frames=4, fps=6.0, preprocess=pre),
        ),
    )


@needs_dali
def test_frame_cache_decodes_with_dali_and_falls_back_per_file(videos, tmp_path) -> None:
    spec = _spec()
    pyav = FrameCache(tmp_path / "pyav", spec)
    dali = FrameCache(tmp_path / "dali", spec, decoder=resolve_decoder("dali", "cpu"))
    paths = [str(videos[k]) for k in ("vp8", "vp9", "h264")]
    assert dali.fill(paths) == {}
    for kind in ("vp8", "vp9"):
        a, b = pyav.load(str(videos[kind])), dali.load(str(videos[kind]))
        assert (a.decoder, b.decoder) == ("pyav", "dali")
        for name in ("frames", "clip"):
            assert a.frames[name].shape == b.frames[name].shape == (3 if name == "frames" else 4, 40, 53, 3)
            diff = np.abs(a.frames[name].astype(np.int16) - b.frames[name].astype(np.int16))
            assert diff.mean() <= MEAN_LEVELS, (kind, name, diff.mean())
    fallback = dali.load(str(videos["h264"]))  # DALI's CPU backend has no H.264: PyAV for this file
    assert fallback.decoder == "pyav"
    assert any("decoded with pyav" in w for w in fallback.warnings)
    assert dali.file(paths[0]) != pyav.file(paths[0])  # the decoder is part of the key


def test_frame_cache_default_is_pyav_with_its_key_unchanged(videos, tmp_path) -> None:
    spec = _spec()
    default = FrameCache(tmp_path / "a", spec)
    explicit = FrameCache(tmp_path / "a", spec, decoder=resolve_decoder("pyav", "cpu"))
    path = str(videos["vp8"])
    assert default.file(path) == explicit.file(path)
    assert explicit.load(path).decoder == "pyav"
    assert default.load(path).decoder == "pyav"  # read back from the file explicit wrote


def _explain(video: Path, bundle: Path, out: Path, decoder: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*memo_command(), "explain", str(video), "-m", str(bundle), "-o", str(out), "--decoder", decoder, "--json"],
        capture_output=True, text=True, env=subprocess_env(), timeout=300,
    )  # fmt: skip


@needs_dali
def test_explain_with_dali_matches_pyav(videos, framecnn_bundle, tmp_path) -> None:
    results = {}
    for decoder in ("pyav", "dali"):
        done = _explain(videos["vp9"], framecnn_bundle.path, tmp_path / decoder, decoder)
        assert done.returncode == 0, done.stderr
        (row,) = json.loads(done.stdout)
        assert row["decoder"] == decoder and row["maps"] == ["cam"]
        results[decoder] = json.loads((Path(row["folder"]) / "scores.json").read_text())
        assert results[decoder]["decoder"] == decoder
    assert abs(results["pyav"]["score"] - results["dali"]["score"]) <= 1e-3


def test_explain_refuses_an_unknown_decoder(videos, framecnn_bundle, tmp_path) -> None:
    done = _explain(videos["vp8"], framecnn_bundle.path, tmp_path / "out", "nvdec")
    assert done.returncode == 2 and "unknown decoder" in done.stderr
    assert not (tmp_path / "out").exists()


def test_score_resolves_the_decoder_once_and_passes_it_down(
    videos, framecnn_bundle, tmp_path, monkeypatch
) -> None:
    """`memo score` resolves --decoder with the other option checks; the scoring loop uses that
    choice instead of resolving (and announcing) it again."""
    import csv

    from typer.testing import CliRunner

    import memo.data.decoders
    import memo.score.runner
    from memo.cli import app

    calls: list[tuple[str, str]] = []

    def counted(name: str, device: str):  # type: ignore[no-untyped-def]
        calls.append((name, device))
        return resolve_decoder(name, device)

    monkeypatch.setattr(memo.data.decoders, "resolve_decoder", counted)
    monkeypatch.setattr(memo.score.runner, "resolve_decoder", counted)
    out = tmp_path / "s.csv"
    done = CliRunner().invoke(app, ["score", str(videos["h264"]), "-m", str(framecnn_bundle.path), "-o", str(out),
                                    "--decoder", "pyav", "--device", "cpu", "-q"])  # fmt: skip
    assert done.exit_code == 0, done.output
    assert calls == [("pyav", "cpu")]
    (row,) = csv.DictReader(out.open())
    assert row["status"] == "ok" and row["decoder"] == "pyav"
