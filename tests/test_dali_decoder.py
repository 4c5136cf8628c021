"""DALI's CPU backend against PyAV: same frames, same preprocessing, same scores.

DALI decodes VP8, VP9 and MJPEG on the CPU without a GPU, so these run in CI. The tolerance
(in 8-bit levels) is what two correct decoders differ by: DALI and FFmpeg's swscale convert
YUV to RGB and upsample chroma differently (measured: mean 1.2 levels on the real WebM files,
up to 2.5 on the tiny synthetic ones with their hard edges; see docs/decoding.md). The GPU
path (NVDEC, CUDA tensors) is not tested here: no GPU.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from memo.data.decode import index_video, keyframe_times
from memo.data.decoders import get_decoder, resolve_decoder
from memo.data.decoders.dali import dali_version
from memo.data.synthetic import KINDS, write_video
from memo.models.spec import Preprocess

from .conftest import SHARED_VIDEOS

needs_dali = pytest.mark.skipif(
    dali_version() is None, reason="NVIDIA DALI is not installed (pip install 'memo[dali]')"
)

MEAN_LEVELS = 3.0  # mean |DALI - PyAV| over all pixels, 8-bit levels
SPECS = [
    Preprocess((256, 256), (227, 227)),
    Preprocess((32,), (32, 32), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    Preprocess((40,), (36, 36), interpolation="bicubic"),
    Preprocess((20, 30), (24, 24), interpolation="nearest"),  # crop larger than the image: zero padding
]
VFR = [0.0, 0.05, 0.3, 0.32, 0.9, 1.0, 1.5, 1.55, 1.6, 2.4]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("dali")
    made = {}
    for i, kind in enumerate(["vp8", "vp9", "mjpeg"]):
        made[kind] = write_video(
            folder / f"{kind}{KINDS[kind][0]}", kind, frames=30, fps=15, width=64, height=48, seed=i
        )
    made["vfr"] = write_video(folder / "vfr.webm", "vp8", timestamps=VFR, width=64, height=48, seed=5)
    made["rot90"] = write_video(
        folder / "rot90.webm", "vp9", frames=20, width=64, height=48, seed=6, rotation=90
    )
    made["rot270"] = write_video(
        folder / "rot270.webm", "vp9", frames=20, width=64, height=48, seed=7, rotation=270
    )
    made["h264"] = write_video(folder / "h264.mp4", "h264", frames=20, width=64, height=48, seed=8)
    return made


def _shared_webm() -> list[Path]:
    return sorted(SHARED_VIDEOS.glob("*.webm")) if SHARED_VIDEOS.is_dir() else []


def test_auto_picks_pyav_on_the_cpu() -> None:
    choice = resolve_decoder("auto", "cpu")
    assert choice.name == "pyav" and "auto" in choice.reason


@needs_dali
@pytest.mark.parametrize("kind", ["vp8", "vp9", "mjpeg", "vfr", "rot90", "rot270"])
def test_frames_equal_pyav(clips: dict[str, Path], kind: str) -> None:
    _check_frames(str(clips[kind]), 7)


@needs_dali
@pytest.mark.parametrize("name", [p.name for p in _shared_webm()] or ["(none)"])
def test_real_webm_frames_equal_pyav(name: str) -> None:
    if name == "(none)":
        pytest.skip("no WebM files in ../shared/videos")
    _check_frames(str(SHARED_VIDEOS / name), 3)


def _check_frames(path: str, count: int) -> None:
    info = index_video(path)
    times = keyframe_times(info, count)
    dali = resolve_decoder("dali", "cpu").primary.read(path, times, info)
    pyav = get_decoder("pyav").read(path, times, info)
    assert dali.decoder == "dali" and dali.times == pyav.times
    assert dali.frames.shape == pyav.frames.shape and dali.frames.dtype == np.uint8
    diff = np.abs(dali.frames.astype(np.int16) - pyav.frames.astype(np.int16))
    assert diff.mean() <= MEAN_LEVELS, f"mean difference {diff.mean():.2f} levels"
    # the right frame, not a neighbour: closer to PyAV's frame at that time than to any other sampled one
    for i in range(count):
        own = diff[i].mean()
        for j in range(count):
            if pyav.times[j] != pyav.times[i]:
                assert own < np.abs(dali.frames[i].astype(np.int16) - pyav.frames[j]).mean()


@needs_dali
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.resize}-{s.crop}-{s.interpolation}")
@pytest.mark.parametrize("kind", ["vp9", "rot90"])
def test_preprocessing_equals_pyav(clips: dict[str, Path], kind: str, spec: Preprocess) -> None:
    path = str(clips[kind])
    info = index_video(path)
    times = keyframe_times(info, 5)
    dali = resolve_decoder("dali", "cpu").preprocessed(path, times, info, spec)
    pyav = get_decoder("pyav").preprocessed(path, times, info, spec)
    assert dali.decoder == "dali" and isinstance(dali.array, np.ndarray)
    assert dali.array.shape == pyav.array.shape == (5, 3, *spec.crop)
    assert dali.array.dtype == np.float32
    levels = np.abs(dali.array - pyav.array) * np.asarray(spec.std, np.float32)[:, None, None] * 255
    assert levels.mean() <= MEAN_LEVELS, f"mean difference {levels.mean():.2f} levels"


@needs_dali
def test_codec_dali_cpu_lacks_falls_back_to_pyav(clips: dict[str, Path]) -> None:
    path = str(clips["h264"])
    info = index_video(path)
    batch = resolve_decoder("dali", "cpu").preprocessed(path, keyframe_times(info, 3), info, SPECS[1])
    assert batch.decoder == "pyav"
    assert "does not decode h264" in batch.warnings[0]


def test_decoder_dali_without_dali_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, framecnn_bundle, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from memo.cli import app

    monkeypatch.setitem(sys.modules, "nvidia.dali", None)  # import nvidia.dali now raises ImportError
    out = tmp_path / "scores.csv"
    video = write_video(tmp_path / "a.webm", "vp8", frames=5, width=32, height=32)
    args = ["score", str(video), "-o", str(out), "-m", str(framecnn_bundle.path), "--decoder", "dali"]
    done = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert done.exit_code == 2
    message = " ".join(done.output.split())
    assert "--decoder dali" in message and "pip install 'memo[dali]'" in message
    assert not out.exists()  # refused before any work


@needs_dali
def test_dlpack_handover_on_the_cpu(clips: dict[str, Path]) -> None:
    """The DLPack hand-over used for GPU frames, run here on a CPU pipeline's output."""
    import torch

    from memo.data.decoders.dali import _to_torch
    from memo.data.decoders.dali_graph import GraphKey

    path = str(clips["vp9"])
    info = index_video(path)
    decoder = resolve_decoder("dali", "cpu").primary
    out = decoder._run(path, GraphKey(None, 0), [0, 3])
    expected = np.array(out)
    tensor = _to_torch(out)
    assert isinstance(tensor, torch.Tensor) and tensor.dtype == torch.uint8
    assert tensor.shape == (2, info.height, info.width, 3)
    decoder._run(path, GraphKey(None, 0), [5, 6])
    np.testing.assert_array_equal(tensor.numpy(), expected)  # a copy: DALI's next run does not change it


@needs_dali
def test_clip_and_keyframe_inputs_through_prepare_video(clips: dict[str, Path]) -> None:
    """A video-level spec with a clip (C, T, H, W) and a keyframes input: DALI and PyAV agree."""
    from memo.data.inputs import prepare_video
    from memo.models.spec import InputSpec, ModelSpec

    pre = Preprocess((32,), (32, 32))
    spec = ModelSpec(
        name="clipcheck",
        architecture="none",
        unit="video",
        inputs=(
            InputSpec("clip", "clip", num_frames=4, fps=5.0, preprocess=pre),
            InputSpec("frames", "keyframes", num_frames=3, preprocess=pre),
        ),
    )
    path = str(clips["vfr"])
    dali = prepare_video(path, spec, decoder=resolve_decoder("dali", "cpu"))
    pyav = prepare_video(path, spec, decoder=resolve_decoder("pyav", "cpu"))
    assert dali.decoder == "dali" and pyav.decoder == "pyav"
    assert dali.arrays["clip"].shape == pyav.arrays["clip"].shape == (1, 3, 4, 32, 32)
    assert dali.arrays["frames"].shape == pyav.arrays["frames"].shape == (1, 3, 3, 32, 32)
    for name in ("clip", "frames"):
        assert np.abs(dali.arrays[name] - pyav.arrays[name]).mean() * 255 <= MEAN_LEVELS


@needs_dali
@pytest.mark.parametrize("kind", ["vfr", "vp9", "mjpeg"])
def test_dali_numbers_frames_as_memos_index(clips: dict[str, Path], kind: str) -> None:
    """Frame n for DALI is frame n of memo's index: DALI's own reader reports the same timestamps."""
    from nvidia.dali import fn, pipeline_def

    path = str(clips[kind])
    info = index_video(path)

    @pipeline_def(batch_size=1, num_threads=1, device_id=None)
    def reader():  # type: ignore[no-untyped-def]
        _, stamps = fn.experimental.readers.video(
            filenames=[path], sequence_length=info.num_frames, enable_timestamps=True, pad_mode="none"
        )
        return stamps

    pipe = reader()
    pipe.build()
    (stamps,) = pipe.run()
    np.testing.assert_allclose(np.asarray(stamps[0]), info.frame_times, atol=1e-6)
