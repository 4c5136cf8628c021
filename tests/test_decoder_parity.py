"""``--decoder dali`` and ``--decoder pyav`` give the same model input (issue 19's transcoded case).

Eight videos from ../shared/videos, transcoded here to 320x240 VP9 (75 frames each) so that
DALI's CPU backend decodes them. Both decoders now convert YUV to RGB the same way (PyAV
through swscale with DALI's flags, :func:`memo.data.container.frame_rgb`) and share one
preprocessing (:func:`memo.data.preprocess.preprocess_frames`; DALI no longer resizes with
its own ``fn.resize``), so the frames and the model inputs are identical, and so the scores.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from memo.data.decode import index_video, keyframe_times
from memo.data.decoders import get_decoder, resolve_decoder
from memo.data.decoders.dali import dali_version
from memo.data.preprocess import preprocess_frames
from memo.data.synthetic import transcode_vp9
from memo.models.spec import Preprocess

from .conftest import SHARED_VIDEOS

pytestmark = pytest.mark.skipif(dali_version() is None, reason="NVIDIA DALI is not installed")
SPECS = [Preprocess((256, 256), (227, 227)), Preprocess((256,), (224, 224), (0.485, 0.456, 0.406),
                                                      (0.229, 0.224, 0.225))]  # fmt: skip


@pytest.fixture(scope="module")
def transcoded(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    sources = sorted(SHARED_VIDEOS.glob("*.*"))[:8] if SHARED_VIDEOS.is_dir() else []
    if len(sources) < 8:
        pytest.skip("needs the eight videos of ../shared/videos")
    folder = tmp_path_factory.mktemp("vp9")
    return [transcode_vp9(s, folder / f"{s.stem}.webm") for s in sources]


def test_transcoded_videos_are_what_the_issue_describes(transcoded: list[Path]) -> None:
    for path in transcoded:
        info = index_video(str(path))
        assert (info.codec, info.width, info.height, info.num_frames) == ("vp9", 320, 240, 75)


@pytest.mark.parametrize("spec", SPECS, ids=["resmem", "imagenet"])
def test_both_decoders_give_the_same_model_input(transcoded: list[Path], spec: Preprocess) -> None:
    dali, pyav = resolve_decoder("dali", "cpu").primary, get_decoder("pyav")
    for path in map(str, transcoded):
        info = index_video(path)
        times = keyframe_times(info, 7)
        inputs = []
        for decoder in (dali, pyav):
            batch = decoder.preprocessed(path, times, info, spec)
            frames = decoder.read(path, times, info)
            assert batch.decoder == decoder.name and batch.times == frames.times
            np.testing.assert_array_equal(batch.array, preprocess_frames(frames.frames, spec))
            inputs.append(batch.array)
        np.testing.assert_array_equal(inputs[0], inputs[1], err_msg=f"{path}: DALI and PyAV inputs differ")
