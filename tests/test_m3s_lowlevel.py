"""M3-S low-level extractors against independent computations on real frames from ../shared/videos."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image, ImageFilter

pytest.importorskip("cv2")

from memo.data.decode import index_video, keyframe_times, read_frames_at
from memo.data.inputs import prepare_video
from memo.data.lowlevel import (
    LowLevelConfig,
    blurriness,
    extract_lowlevel,
    flow_field,
    flow_magnitude,
    frame_hog,
    stream_bytes_per_second,
    to_grey,
)
from memo.models.lowlevel_layout import hog_dim
from memo.models.m3s import m3s_spec
from tests.conftest import shared_video


def _grey_frames(name: str, count: int = 4, size: int | None = None) -> list[np.ndarray]:
    path = str(shared_video(name))
    info = index_video(path)
    images = read_frames_at(path, keyframe_times(info, count), info).images
    if size:
        images = [im.resize((size, size), Image.Resampling.BILINEAR) for im in images]
    return [to_grey(np.asarray(im.convert("RGB"))) for im in images]


@pytest.mark.parametrize("shift", [(3, 2), (-2, 4), (6, -5)])
def test_flow_matches_a_known_shift_of_a_real_frame(shift):
    grey = _grey_frames("bikes.mp4", count=1)[0]  # 640 x 272
    dx, dy = shift
    top, left, h, w = 40, 200, 160, 160
    first = np.ascontiguousarray(grey[top : top + h, left : left + w])
    # The second view is the same scene moved by (dx, dy): content at (x, y) is now at (x+dx, y+dy).
    second = np.ascontiguousarray(grey[top - dy : top - dy + h, left - dx : left - dx + w])
    flow = flow_field(first, second)
    assert np.median(flow[..., 0]) == pytest.approx(dx, abs=0.3)
    assert np.median(flow[..., 1]) == pytest.approx(dy, abs=0.3)
    truth = np.hypot(dx, dy)
    assert 0.75 * truth < flow_magnitude(first, second) < 1.1 * truth
    assert flow_magnitude(first, first) < 0.05


def test_flow_magnitude_grows_with_the_shift():
    grey = _grey_frames("bikes.mp4", count=1)[0]
    first = np.ascontiguousarray(grey[40:200, 200:360])
    mags = [
        flow_magnitude(first, np.ascontiguousarray(grey[40:200, 200 - s : 360 - s])) for s in (0, 1, 2, 4, 6)
    ]
    assert mags == sorted(mags) and mags[-1] > 4


def test_blurriness_lower_on_the_compressed_carphone_and_on_a_blurred_frame():
    pristine = np.mean([blurriness(g) for g in _grey_frames("carphone_pristine.mp4")])
    distorted = np.mean([blurriness(g) for g in _grey_frames("carphone_distorted.mp4")])
    assert distorted < pristine
    grey = _grey_frames("bikes.mp4", count=1)[0]
    blurred = np.asarray(Image.fromarray(grey).filter(ImageFilter.GaussianBlur(2)))
    assert blurriness(blurred) < blurriness(grey) - 1.0


def test_brightness_and_contrast_match_pil_grey_statistics():
    path = str(shared_video("bikes.mp4"))
    config = LowLevelConfig(size=64, num_frames=3)
    array = extract_lowlevel(path, config)
    info = index_video(path)
    images = read_frames_at(path, keyframe_times(info, 3), info).images
    greys = [
        np.asarray(im.resize((64, 64), Image.Resampling.BILINEAR).convert("L"), np.float64) for im in images
    ]
    dh = hog_dim(64)
    np.testing.assert_allclose(array[:, dh], [g.mean() for g in greys], atol=0.6)
    np.testing.assert_allclose(array[:, dh + 1], [g.std() for g in greys], atol=0.6)


@pytest.mark.parametrize("name", ["carphone_pristine.mp4", "bikes.mp4", "bigbuckbunny.mp4"])
def test_bytes_per_second_against_file_size_over_duration(name):
    path = str(shared_video(name))
    info = index_video(path)
    rate = stream_bytes_per_second(path, info)
    file_rate = os.path.getsize(path) / info.duration
    assert rate <= file_rate  # packets are part of the file
    if name == "bigbuckbunny.mp4":  # has an AAC track: only the video packets count
        assert 0.5 * file_rate < rate < 0.95 * file_rate
    else:  # video-only files: little container overhead
        assert rate == pytest.approx(file_rate, rel=0.02)


def test_compressed_file_has_far_fewer_bytes_per_second():
    pristine = stream_bytes_per_second(str(shared_video("carphone_pristine.mp4")))
    distorted = stream_bytes_per_second(str(shared_video("carphone_distorted.mp4")))
    assert distorted < pristine / 20


def test_hog_is_block_normalised_and_sees_orientation():
    _y, x = np.mgrid[0:32, 0:32]
    vertical = (127 + 100 * np.sin(x / 2.0)).astype(np.uint8)
    hog_v = frame_hog(vertical)
    hog_h = frame_hog(np.ascontiguousarray(vertical.T))
    assert hog_v.shape == (hog_dim(32),) and (hog_v >= 0).all()
    blocks = hog_v.reshape(-1, 36)
    assert (np.linalg.norm(blocks, axis=1) <= 1.0 + 1e-3).all()  # L2-Hys
    # Vertical stripes have horizontal gradients: bin 0 (0 deg); horizontal stripes: bin 4 (~90 deg).
    bins_v, bins_h = hog_v.reshape(-1, 9).sum(0), hog_h.reshape(-1, 9).sum(0)
    assert bins_v.argmax() == 0 and bins_h.argmax() == 4


def test_extracted_array_layout_and_prepare_video_agree():
    path = str(shared_video("carphone_pristine.mp4"))
    spec = m3s_spec(modules=("low",), low_size=32, low_frames=3)
    array = extract_lowlevel(path, LowLevelConfig(size=32, num_frames=3))
    assert array.shape == (3, hog_dim(32) + 5) and array.dtype == np.float32
    assert np.all(array[:, -1] == array[0, -1])  # bytes/s: one value per video
    assert (array[:, -2] > 0).all()  # the carphone moves: flow > 0
    prepared = prepare_video(path, spec)
    np.testing.assert_array_equal(prepared.arrays["lowlevel"][0], array)
