"""The PyAV sampler: every container/codec, frame positions (CFR and VFR), pixels, rotation."""

from __future__ import annotations

import bisect
import math

import numpy as np
import pytest

from memo.data.decode import clip_times, index_video, keyframe_times, read_frames_at
from memo.data.synthetic import KINDS, write_video

from .conftest import shared_video
from .decoding_helpers import (
    decode_all_times,
    decode_at_times,
    frame_index,
    level_painter,
    marker_painter,
    on_screen,
    red_corner,
    require_encoder,
    write_with_audio,
)

W, H = 64, 48
CODEC_NAME = {
    "h264": "h264",
    "vp8": "vp8",
    "vp9": "vp9",
    "hevc": "hevc",
    "mov": "h264",
    "mpeg4": "mpeg4",
    "gif": "gif",
    "av1": "av1",
    "mjpeg": "mjpeg",
    "ts": "h264",
    "mpeg2": "mpeg2video",
    "mpeg2ts": "mpeg2video",
    "flv": "h264",
    "wmv": "wmv2",
    "h264avi": "h264",
}


@pytest.fixture(scope="module", params=sorted(KINDS))
def generated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """One 2 s, 15 fps, 64x48 video per container/codec, keyframe every 5 frames."""
    kind = request.param
    require_encoder(kind)
    path = tmp_path_factory.mktemp("kinds") / f"clip_{kind}{KINDS[kind][0]}"
    write_video(path, kind, frames=30, fps=15, width=W, height=H, gop=5, seed=3)
    return kind, path


def test_index_reports_frames_duration_size_and_codec(generated) -> None:
    kind, path = generated
    info = index_video(str(path))
    assert info.codec == CODEC_NAME[kind]
    assert (info.width, info.height) == (W, H)
    assert info.num_frames == 30
    assert len(info.frame_times) == 30
    assert info.duration == pytest.approx(2.0, abs=0.011)  # GIF stores delays in 1/100 s
    assert info.start == pytest.approx(decode_all_times(path)[0], abs=1e-6)  # MPEG-PS starts late
    assert info.keyframes[0] == pytest.approx(info.start)
    assert info.warnings == ()
    if kind != "gif":  # GIF has no keyframe structure
        assert len(info.keyframes) >= 5, f"{kind}: expected a keyframe every 5 frames, got {info.keyframes}"


def test_sampler_returns_n_frames_at_segment_centres(generated) -> None:
    _kind, path = generated
    info = index_video(str(path))
    truth = decode_all_times(path)
    assert [round(t, 6) for t in truth] == [round(t, 6) for t in info.frame_times]
    for n in (1, 7, 16):
        times = keyframe_times(info, n)
        sample = read_frames_at(str(path), times, info)
        assert len(sample.images) == n
        assert all(image.size == (W, H) and image.mode == "RGB" for image in sample.images)
        assert sample.times == pytest.approx([on_screen(truth, t) for t in times], abs=1e-6)
        assert sample.warnings == []
        assert sample.decode_errors == 0


@pytest.mark.parametrize("kind", ["h264", "vp9"])
def test_constant_frame_rate_picks_the_frame_on_screen_at_each_centre(kind: str, tmp_path) -> None:
    require_encoder(kind)
    fps, frames = 15, 30
    path = write_video(tmp_path / f"cfr{KINDS[kind][0]}", kind, frames=frames, fps=fps, width=W, height=H)
    info = index_video(str(path))
    centres = [(i + 0.5) * (frames / fps) / 7 for i in range(7)]  # the true 2 s, split into 7
    assert keyframe_times(info, 7) == pytest.approx(centres, abs=1e-9)
    expected = [
        math.floor(c * fps + 1e-6) / fps for c in centres
    ]  # frame k is on screen in [k/fps, (k+1)/fps)
    sample = read_frames_at(str(path), centres, info)
    assert sample.times == pytest.approx(expected, abs=1e-3)


def test_pixels_equal_a_sequential_decode_on_short_gop(generated) -> None:
    kind, path = generated
    info = index_video(str(path))
    times = keyframe_times(info, 9)
    sample = read_frames_at(str(path), times, info)
    reference = decode_at_times(path, sample.times)
    for t, image in zip(sample.times, sample.images, strict=True):
        np.testing.assert_array_equal(np.asarray(image), reference[t], err_msg=f"{kind} frame at {t:.3f} s")


def test_pixels_equal_a_sequential_decode_on_a_real_file_with_several_keyframes() -> None:
    path = shared_video("bikes.mp4")
    info = index_video(str(path))
    assert len(info.keyframes) >= 4, "bikes.mp4 is expected to have several GOPs"
    times = keyframe_times(info, 12)
    sample = read_frames_at(str(path), times, info)
    truth = decode_all_times(path)
    assert sample.times == pytest.approx([on_screen(truth, t) for t in times], abs=1e-6)
    # Frames just before and just after a keyframe, where a wrong seek shows first.
    around = [info.keyframes[2] - 0.01, info.keyframes[2], info.keyframes[3] + 0.05]
    extra = read_frames_at(str(path), around, info)
    reference = decode_at_times(path, sample.times + extra.times)
    for t, image in zip(sample.times + extra.times, sample.images + extra.images, strict=True):
        np.testing.assert_array_equal(np.asarray(image), reference[t], err_msg=f"bikes.mp4 at {t:.3f} s")


def test_requested_order_is_kept_and_repeats_are_served() -> None:
    path = shared_video("bikes.mp4")
    info = index_video(str(path))
    times = [8.0, 1.0, 8.0, 0.0, 5.5]
    sample = read_frames_at(str(path), times, info)
    truth = decode_all_times(path)
    assert sample.times == pytest.approx([on_screen(truth, t) for t in times], abs=1e-6)
    assert np.array_equal(np.asarray(sample.images[0]), np.asarray(sample.images[2]))


VFR_TIMES = [0.0, 0.04, 0.5, 0.52, 0.54, 1.3, 1.31, 1.9, 2.5, 2.52, 3.0]


@pytest.mark.parametrize("kind", ["h264", "vp8", "hevc", "mov"])
def test_variable_frame_rate_samples_by_timestamp_not_index(kind: str, tmp_path) -> None:
    require_encoder(kind)
    path = write_video(
        tmp_path / f"vfr{KINDS[kind][0]}",
        kind,
        width=W,
        height=H,
        timestamps=VFR_TIMES,
        painter=level_painter(W, H),
        gop=3,
    )
    info = index_video(str(path))
    truth = decode_all_times(path)
    assert truth == pytest.approx(VFR_TIMES, abs=1e-3)
    assert list(info.frame_times) == pytest.approx(truth, abs=1e-6)
    times = keyframe_times(info, 6)
    sample = read_frames_at(str(path), times, info)
    expected = [on_screen(truth, t) for t in times]
    assert sample.times == pytest.approx(expected, abs=1e-6)
    # The pictures are the frames shown at those times (each frame paints its own index).
    shown = [frame_index(np.asarray(image)) for image in sample.images]
    assert shown == [VFR_TIMES.index(min(VFR_TIMES, key=lambda v, t=t: abs(v - t))) for t in expected]
    # Sampling by frame number would have picked other frames: the test tells the two apart.
    by_index = [int((i + 0.5) * len(VFR_TIMES) / 6) for i in range(6)]
    assert shown != by_index


def test_clip_sampler_returns_consecutive_frames_centred(tmp_path) -> None:
    fps = 30
    path = write_video(tmp_path / "clip.mp4", "h264", frames=60, fps=fps, width=W, height=H, gop=10)
    info = index_video(str(path))
    truth = decode_all_times(path)
    # At the native rate: 8 consecutive frames, centred (frames 26..33 of 60).
    times = clip_times(info, 8, fps)
    sample = read_frames_at(str(path), times, info)
    indices = [round(t * fps) for t in sample.times]
    assert indices == list(range(26, 34))
    # At 10 fps: every third frame, the span centred in the 2 s video.
    times = clip_times(info, 8, 10)
    assert times[0] == pytest.approx((2.0 - 0.8) / 2)
    assert np.diff(times) == pytest.approx([0.1] * 7)
    sample = read_frames_at(str(path), times, info)
    assert sample.times == pytest.approx([on_screen(truth, t) for t in times], abs=1e-6)
    assert [round(t * fps) for t in sample.times] == list(range(18, 42, 3))
    # A clip longer than the video starts at the first frame and repeats the last one.
    long = clip_times(info, 80, fps)
    assert long[0] == pytest.approx(info.start)
    sample = read_frames_at(str(path), long, info)
    assert sample.distinct == 60
    assert sample.times[-1] == pytest.approx(truth[-1])


@pytest.mark.parametrize("kind", ["h264", "mov"])
@pytest.mark.parametrize(("rotation", "corner"), [(0, "tl"), (90, "bl"), (180, "br"), (270, "tr")])
def test_display_rotation_is_applied(kind: str, rotation: int, corner: str, tmp_path) -> None:
    """``rotation`` is the display matrix angle, counter-clockwise (FFmpeg's -display_rotation)."""
    path = write_video(
        tmp_path / f"rot{rotation}{KINDS[kind][0]}",
        kind,
        frames=10,
        fps=10,
        width=W,
        height=H,
        rotation=rotation,
        painter=marker_painter(W, H),
    )
    info = index_video(str(path))
    assert (info.width, info.height) == (W, H)  # the coded size
    sample = read_frames_at(str(path), keyframe_times(info, 3), info)
    for image in sample.images:
        assert image.size == ((H, W) if rotation in (90, 270) else (W, H))
        assert red_corner(np.asarray(image)) == corner


def test_real_portrait_mov_is_the_landscape_video_turned() -> None:
    portrait = shared_video("bikes_portrait.mov")
    landscape = shared_video("bikes.mp4")
    p_info, l_info = index_video(str(portrait)), index_video(str(landscape))
    p = read_frames_at(str(portrait), [5.0], p_info).images[0]
    ref = read_frames_at(str(landscape), [5.0], l_info).images[0]
    assert p.size == (272, 640)
    turned = [np.asarray(ref.rotate(angle, expand=True), dtype=np.float64) for angle in (90, 270)]
    error = min(float(np.abs(np.asarray(p, dtype=np.float64) - t).mean()) for t in turned)
    assert error < 12, f"portrait frame differs from the turned landscape frame by {error:.1f} grey levels"


REAL = {
    # name: (codec, width, height, frames, duration)
    "bigbuckbunny.mp4": ("h264", 1280, 720, 132, 5.28),
    "bikes.mp4": ("h264", 640, 272, 250, 10.0),
    "carphone_pristine.mp4": ("h264", 176, 144, 120, 120 / 29.97),
    "carphone_distorted.mp4": ("h264", 176, 144, 120, 120 / 29.97),
    "bigbuckbunny_vp8_1080p.webm": ("vp8", 1920, 1080, 132, 5.28),
    "bikes_vp9.webm": ("vp9", 640, 272, 250, 10.0),
    "bigbuckbunny_hevc.mkv": ("hevc", 1280, 720, 132, 5.28),
    "bikes_portrait.mov": ("h264", 272, 640, 250, 10.0),
}


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_videos(name: str) -> None:
    path = shared_video(name)
    codec, width, height, frames, duration = REAL[name]
    info = index_video(str(path))
    assert (info.codec, info.width, info.height, info.num_frames) == (codec, width, height, frames)
    assert info.duration == pytest.approx(duration, abs=0.01)
    assert info.warnings == ()
    times = keyframe_times(info, 7)
    sample = read_frames_at(str(path), times, info)
    assert len(sample.images) == 7 and sample.distinct == 7
    assert all(image.size == (width, height) for image in sample.images)
    step = 1.0 / info.fps
    for t, got in zip(times, sample.times, strict=True):
        assert t - step - 1e-6 <= got <= t + 1e-6, f"{name}: frame at {got:.3f} s for target {t:.3f} s"
    assert sample.warnings == []


def _frames_needed(info, times: list[float]) -> int:  # type: ignore[no-untyped-def]
    """Frames from the keyframe before each target up to the target: what any decoder must decode."""
    needed: set[int] = set()
    for t in times:
        key = info.keyframes[max(bisect.bisect_right(info.keyframes, t + 1e-6) - 1, 0)]
        first = bisect.bisect_left(info.frame_times, key - 1e-6)
        needed.update(range(first, bisect.bisect_right(info.frame_times, t + 1e-6)))
    return len(needed)


@pytest.mark.parametrize("count", [7, 16])
def test_sampler_decodes_only_what_it_needs(count: int, tmp_path) -> None:
    generated = write_video(tmp_path / "gop10.mp4", "h264", frames=60, fps=30, width=W, height=H, gop=10)
    for path in (generated, shared_video("bikes.mp4")):
        info = index_video(str(path))
        times = keyframe_times(info, count)
        sample = read_frames_at(str(path), times, info)
        # At most one frame past each stretch of decoding (the one that shows the target has passed).
        assert sample.decoded <= _frames_needed(info, times) + sample.seeks + 1, path.name
        assert sample.decoded < info.num_frames, path.name


@pytest.mark.parametrize("kind", ["mpeg2", "mpeg2ts"])
def test_mpeg_streams_are_read_in_order_not_by_seeking(kind: str, tmp_path) -> None:
    """MPEG-PS/TS seeking by time lands near, not at, the time asked: those are decoded in order."""
    path = write_video(tmp_path / f"x{KINDS[kind][0]}", kind, frames=30, fps=15, width=W, height=H, gop=5)
    info = index_video(str(path))
    times = keyframe_times(info, 7)
    sample = read_frames_at(str(path), times, info)
    assert sample.seeks == 0
    assert sample.decoded <= round((times[-1] - info.start) * 15) + 2


@pytest.mark.parametrize(
    ("name", "fmt", "vcodec", "acodec"),
    [("a.webm", "webm", "libvpx-vp9", "libopus"), ("a.mp4", "mp4", "libx264", "aac")],
)
def test_audio_longer_or_shorter_is_not_truncation(
    name: str, fmt: str, vcodec: str, acodec: str, tmp_path
) -> None:
    for video_s, audio_s in [(1, 3), (3, 1)]:
        path = write_with_audio(tmp_path / f"{video_s}{audio_s}{name}", fmt, vcodec, acodec, video_s, audio_s)
        info = index_video(str(path))
        assert info.duration == pytest.approx(video_s, abs=0.01)
        assert info.warnings == (), f"{path.name}: {info.warnings}"
        cut = tmp_path / f"cut_{path.name}"
        cut.write_bytes(path.read_bytes()[: int(path.stat().st_size * 0.5)])
        if fmt == "webm":  # streamable: a cut file still opens, and says it is cut
            assert index_video(str(cut)).warnings[0].startswith("truncated: ")


@pytest.mark.parametrize("kind", ["h264", "hevc", "mov"])
def test_b_frames_cfr_and_vfr(kind: str, tmp_path) -> None:
    """Frames stored out of display order: times and pixels still match a sequential decode."""
    require_encoder(kind)
    cfr = write_video(
        tmp_path / f"b{KINDS[kind][0]}", kind, frames=45, fps=15, width=W, height=H, gop=10, bframes=3
    )
    vfr = write_video(
        tmp_path / f"bv{KINDS[kind][0]}",
        kind,
        width=W,
        height=H,
        timestamps=VFR_TIMES,
        painter=level_painter(W, H),
        gop=4,
        bframes=2,
    )
    for path in (cfr, vfr):
        info = index_video(str(path))
        truth = decode_all_times(path)
        assert list(info.frame_times) == pytest.approx(truth, abs=1e-6)
        times = keyframe_times(info, 9)
        sample = read_frames_at(str(path), times, info)
        assert sample.times == pytest.approx([on_screen(truth, t) for t in times], abs=1e-6)
        reference = decode_at_times(path, sample.times)
        for t, image in zip(sample.times, sample.images, strict=True):
            np.testing.assert_array_equal(
                np.asarray(image), reference[t], err_msg=f"{path.name} at {t:.3f} s"
            )


def test_b_frames_in_avi_are_flagged(tmp_path) -> None:
    """AVI keeps no presentation times: with B-frames the decoder's times come out of order."""
    path = write_video(tmp_path / "b.avi", "h264avi", frames=45, fps=15, width=W, height=H, gop=10, bframes=3)
    info = index_video(str(path))
    sample = read_frames_at(str(path), keyframe_times(info, 9), info)
    assert len(sample.images) == 9
    assert any(w.startswith("frame timestamps out of display order") for w in sample.warnings)
    plain = write_video(tmp_path / "p.avi", "h264avi", frames=45, fps=15, width=W, height=H, gop=10)
    info = index_video(str(plain))
    assert read_frames_at(str(plain), keyframe_times(info, 9), info).warnings == []
