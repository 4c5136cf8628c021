"""Reference decoders and frame painters shared by the decoding tests.

The reference decodes a file the simplest possible way (every frame, in order, no
seeking) so that the index-then-seek sampler in :mod:`memo.data.decode` can be checked
against it.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from pathlib import Path

import av
import numpy as np
import pytest

from memo.data.container import frame_rgb
from memo.data.synthetic import KINDS


def require_encoder(kind: str) -> None:
    """Skip (with the reason) when this FFmpeg build lacks the encoder of ``kind``."""
    codec = KINDS[kind][2]
    try:
        av.codec.Codec(codec, "w")
    except Exception as exc:  # UnknownCodecError, or a build without the encoder
        pytest.skip(f"encoder {codec} for {kind} is not available in this PyAV/FFmpeg build ({exc})")


def decode_all_times(path: str | Path) -> list[float]:
    """Presentation time of every frame, by decoding the whole file in order."""
    with av.open(str(path)) as container:
        return sorted(float(frame.time) for frame in container.decode(video=0))


def decode_at_times(path: str | Path, wanted: Iterable[float]) -> dict[float, np.ndarray]:
    """Pixels (RGB, coded orientation) of the frames at the given exact times, by sequential decode."""
    targets = sorted(set(wanted))
    found: dict[float, np.ndarray] = {}
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            t = float(frame.time)
            hit = [w for w in targets if abs(w - t) < 1e-6]
            for w in hit:
                found[w] = frame_rgb(frame)  # memo's conversion: this checks which frame, not colours
    return found


def on_screen(frame_times: list[float], target: float) -> float:
    """The time of the frame shown at ``target``: the last frame with time <= target."""
    i = bisect.bisect_right(frame_times, target + 1e-6) - 1
    return frame_times[max(i, 0)]


def level_painter(width: int, height: int, step: int = 20) -> Callable[[int], np.ndarray]:
    """Frame ``i`` is a flat grey of level ``16 + step * i``: the picture says which frame it is."""

    def paint(i: int) -> np.ndarray:
        return np.full((height, width, 3), 16 + step * i, dtype=np.uint8)

    return paint


def frame_index(image: np.ndarray, step: int = 20) -> int:
    """Inverse of :func:`level_painter` (robust to compression noise)."""
    return round((float(np.asarray(image, dtype=np.float64).mean()) - 16) / step)


def marker_painter(width: int, height: int) -> Callable[[int], np.ndarray]:
    """Mid-grey frames with a bright red block in the top-left corner."""

    def paint(i: int) -> np.ndarray:
        image = np.full((height, width, 3), 128, dtype=np.uint8)
        image[: height // 3, : width // 3] = (250, 10, 10)
        return image

    return paint


def red_corner(image: np.ndarray) -> str:
    """Which corner of an RGB image holds the red marker: tl, tr, bl or br."""
    h, w = image.shape[:2]
    corners = {
        "tl": image[: h // 6, : w // 6],
        "tr": image[: h // 6, w - w // 6 :],
        "bl": image[h - h // 6 :, : w // 6],
        "br": image[h - h // 6 :, w - w // 6 :],
    }
    redness = {name: float(px[..., 0].mean() - px[..., 1].mean()) for name, px in corners.items()}
    return max(redness, key=redness.__getitem__)


def write_with_audio(path: Path, fmt: str, vcodec: str, acodec: str, video_s: float, audio_s: float) -> Path:
    """A 64x48 25 fps video track and a silent 48 kHz audio track of other lengths, interleaved."""
    from memo.data.synthetic import frame_pixels

    with av.open(str(path), "w", format=fmt) as container:
        video = container.add_stream(vcodec, rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = container.add_stream(acodec, rate=48000)
        size, sample_fmt = audio.codec_context.frame_size or 1024, audio.codec_context.format.name
        layout, channels = ("stereo", 2) if acodec == "libopus" else ("mono", 1)
        shape = (channels, size) if sample_fmt.endswith("p") else (1, channels * size)
        dtype = np.int16 if sample_fmt.startswith("s16") else np.float32
        frames, samples = 0, 0
        while frames < video_s * 25 or samples < audio_s * 48000:
            if frames < video_s * 25 and (frames / 25 <= samples / 48000 or samples >= audio_s * 48000):
                picture = av.VideoFrame.from_ndarray(frame_pixels(frames, 64, 48), format="rgb24")
                packets = video.encode(picture)
                frames += 1
            else:
                sound = av.AudioFrame.from_ndarray(np.zeros(shape, dtype), format=sample_fmt, layout=layout)
                sound.sample_rate, sound.pts = 48000, samples
                packets = audio.encode(sound)
                samples += size
            for packet in packets:
                container.mux(packet)
        for packet in [*video.encode(), *audio.encode()]:
            container.mux(packet)
    return path
