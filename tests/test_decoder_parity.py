"""``--decoder dali`` and ``--decoder pyav`` give the same model input (issue 19).

Both decoders convert YUV to RGB the same way (PyAV through swscale with DALI's flags and
the chroma taken as centred whatever siting the file declares,
:func:`memo.data.container.frame_rgb`) and share one preprocessing
(:func:`memo.data.preprocess.preprocess_frames`; DALI no longer resizes with its own
``fn.resize``), so the frames, the model inputs and so the scores are identical: on issue
19's transcoded case (eight videos from ../shared/videos transcoded here to 320x240 VP9, 75
frames each, declaring no chroma siting), on generated VP8/VP9 files that declare one, and
on the real WebM files of ../shared/videos as they are (which declare "left").
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from memo.data.container import RGB_SWS_FLAGS, frame_rgb
from memo.data.decode import index_video, keyframe_times
from memo.data.decoders import get_decoder, resolve_decoder
from memo.data.decoders.dali import dali_version
from memo.data.preprocess import preprocess_frames
from memo.data.synthetic import transcode_vp9, write_video
from memo.models.spec import Preprocess

from .conftest import SHARED_VIDEOS

needs_dali = pytest.mark.skipif(dali_version() is None, reason="NVIDIA DALI is not installed")
SPECS = [Preprocess((256, 256), (227, 227)), Preprocess((256,), (224, 224), (0.485, 0.456, 0.406),
                                                      (0.229, 0.224, 0.225))]  # fmt: skip


@pytest.fixture(scope="module")
def transcoded(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    sources = sorted(SHARED_VIDEOS.glob("*.*"))[:8] if SHARED_VIDEOS.is_dir() else []
    if len(sources) < 8:
        pytest.skip("needs the eight videos of ../shared/videos")
    folder = tmp_path_factory.mktemp("vp9")
    return [transcode_vp9(s, folder / f"{s.stem}.webm") for s in sources]


@pytest.fixture(scope="module")
def real_webm() -> list[Path]:
    paths = sorted(SHARED_VIDEOS.glob("*.webm")) if SHARED_VIDEOS.is_dir() else []
    if not paths:
        pytest.skip("needs the WebM files of ../shared/videos (absent here)")
    return paths


def _decoded(path: Path) -> list[av.VideoFrame]:
    with av.open(str(path)) as container:
        return list(container.decode(video=0))


def test_conversion_ignores_the_declared_chroma_siting(tmp_path: Path) -> None:
    """Same pixels, one file declaring "left" chroma: memo's RGB is the undeclared file's."""
    files = [write_video(tmp_path / f"{name}.webm", "vp9", frames=4, width=65, height=49, chroma_siting=siting)
             for name, siting in (("plain", None), ("left", "left"))]  # fmt: skip
    plain, left = map(_decoded, files)
    for a, b in zip(plain, left, strict=True):
        assert [bytes(p) for p in a.planes] == [bytes(p) for p in b.planes]  # the same decoded YUV
        np.testing.assert_array_equal(frame_rgb(a), frame_rgb(b))
        honoured = b.reformat(format="rgb24", interpolation=RGB_SWS_FLAGS).to_ndarray()
        assert np.abs(honoured.astype(int) - frame_rgb(b)).max() > 4  # the siting was declared


def test_transcoded_videos_are_what_the_issue_describes(transcoded: list[Path]) -> None:
    for path in transcoded:
        info = index_video(str(path))
        assert (info.codec, info.width, info.height, info.num_frames) == ("vp9", 320, 240, 75)


def _same_model_input(paths: list[Path], spec: Preprocess, count: int = 7) -> None:
    dali, pyav = resolve_decoder("dali", "cpu").primary, get_decoder("pyav")
    for path in map(str, paths):
        info = index_video(path)
        times = keyframe_times(info, count)
        inputs = []
        for decoder in (dali, pyav):
            batch = decoder.preprocessed(path, times, info, spec)
            frames = decoder.read(path, times, info)
            assert batch.decoder == decoder.name and batch.times == frames.times
            np.testing.assert_array_equal(batch.array, preprocess_frames(frames.frames, spec))
            inputs.append(batch.array)
        np.testing.assert_array_equal(inputs[0], inputs[1], err_msg=f"{path}: DALI and PyAV inputs differ")


@needs_dali
@pytest.mark.parametrize("spec", SPECS, ids=["resmem", "imagenet"])
def test_both_decoders_give_the_same_model_input(transcoded: list[Path], spec: Preprocess) -> None:
    _same_model_input(transcoded, spec)


@needs_dali
def test_real_webm_files_give_the_same_model_input(real_webm: list[Path]) -> None:
    """The files as they are (VP8 1080p, VP9 640x272, both declaring "left" chroma siting):
    identical frames and ResMem inputs, so identical scores (benchmarks/chroma_siting.py)."""
    _same_model_input(real_webm, SPECS[0])


@needs_dali
@pytest.mark.parametrize("kind", ["vp8", "vp9"])
@pytest.mark.parametrize("siting", ["left", "topleft", "center", None])
def test_dali_frames_equal_pyav_frames_whatever_the_siting(
    tmp_path: Path, kind: str, siting: str | None
) -> None:
    """Odd frame size, every frame: DALI's CPU frames are PyAV's, bit for bit."""
    path = str(
        write_video(tmp_path / f"clip.{kind}.webm", kind, frames=6, width=65, height=49, chroma_siting=siting)
    )
    info = index_video(path)
    dali, pyav = resolve_decoder("dali", "cpu").primary, get_decoder("pyav")
    times = list(info.frame_times)
    np.testing.assert_array_equal(dali.read(path, times, info).frames, pyav.read(path, times, info).frames)
