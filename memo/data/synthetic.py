"""Generate small real video files with PyAV (for the Quickstart and the tests).

The content is procedural (moving shapes over gradients, with the colour scheme varying
per video) so that files differ from each other; they are genuine encoded videos in the
requested container and codec, decoded by the same code path as any user file.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

#: (file suffix, container format, codec, pixel format) for each kind of sample.
KINDS: dict[str, tuple[str, str, str, str]] = {
    "h264": (".mp4", "mp4", "libx264", "yuv420p"),
    "vp8": (".webm", "webm", "libvpx", "yuv420p"),
    "vp9": (".webm", "webm", "libvpx-vp9", "yuv420p"),
    "hevc": (".mkv", "matroska", "libx265", "yuv420p"),
    "mov": (".mov", "mov", "libx264", "yuv420p"),
    "mpeg4": (".avi", "avi", "mpeg4", "yuv420p"),
    "gif": (".gif", "gif", "gif", "rgb8"),
    "av1": (".mkv", "matroska", "libsvtav1", "yuv420p"),
    "mjpeg": (".avi", "avi", "mjpeg", "yuvj420p"),
}


def frame_pixels(index: int, width: int, height: int, seed: int = 0) -> np.ndarray:
    """A deterministic RGB frame: gradient background, a moving disc, and the frame index as a bar."""
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 215, size=3)
    y, x = np.mgrid[0:height, 0:width]
    image = np.empty((height, width, 3), dtype=np.float32)
    for c in range(3):
        image[..., c] = base[c] + 40 * np.sin(2 * math.pi * (x / max(width, 1) + c / 3 + index / 50))
    cx = width * (0.5 + 0.35 * math.sin(index / 7 + seed))
    cy = height * (0.5 + 0.35 * math.cos(index / 11 + seed))
    disc = (x - cx) ** 2 + (y - cy) ** 2 < (min(width, height) / 5) ** 2
    image[disc] = 255 - base
    bar = max(1, height // 12)
    image[:bar, : int(width * (index % 100) / 100)] = 255
    return np.clip(image, 0, 255).astype(np.uint8)


def write_video(
    path: str | Path,
    kind: str = "h264",
    *,
    frames: int = 50,
    fps: float = 25,
    width: int = 96,
    height: int = 64,
    seed: int = 0,
    timestamps: Sequence[float] | None = None,
    rotation: int | None = None,
) -> Path:
    """Encode a video; ``timestamps`` (seconds, increasing) gives a variable frame rate."""
    _suffix, fmt, codec, pix_fmt = KINDS[kind]
    path = Path(path)
    time_base = Fraction(1, 1000)
    with av.open(str(path), mode="w", format=fmt) as container:
        stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if codec in ("libx264", "libx265"):
            stream.options = {
                "preset": "ultrafast",
                **({"x265-params": "log-level=error"} if codec == "libx265" else {}),
            }
        if codec == "libsvtav1":
            stream.options = {"preset": "12"}
        if rotation is not None:
            stream.set_display_rotation(rotation)
        if timestamps is not None:
            stream.codec_context.time_base = time_base
        for i in range(frames if timestamps is None else len(timestamps)):
            frame = av.VideoFrame.from_ndarray(frame_pixels(i, width, height, seed), format="rgb24")
            if timestamps is not None:
                frame.pts = round(timestamps[i] / time_base)
                frame.time_base = time_base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_samples(folder: str | Path, count: int = 8, seconds: float = 3.0) -> list[Path]:
    """A folder of sample videos in several containers, for trying ``memo score``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    kinds = ["h264", "vp9", "mov", "h264", "vp8", "mpeg4", "h264", "hevc"]
    written = []
    for i in range(count):
        kind = kinds[i % len(kinds)]
        suffix = KINDS[kind][0]
        target = folder / f"sample_{i:02d}_{kind}{suffix}"
        if not target.exists():
            write_video(target, kind, frames=int(25 * seconds), fps=25, width=320, height=240, seed=i)
        written.append(target)
    return written


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write sample videos for trying memo.")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args(argv)
    for path in write_samples(args.folder, args.count, args.seconds):
        print(path)


if __name__ == "__main__":
    main()
