"""Generate small real video files with PyAV (for the Quickstart and the tests).

The content is procedural (moving shapes over gradients, with the colour scheme varying
per video) so that files differ from each other; they are genuine encoded videos in the
requested container and codec, decoded by the same code path as any user file.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
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
    "ts": (".ts", "mpegts", "libx264", "yuv420p"),
    "mpeg2": (".mpg", "mpeg", "mpeg2video", "yuv420p"),  # MPEG program stream (DVD-style)
    "mpeg2ts": (".m2ts", "mpegts", "mpeg2video", "yuv420p"),  # broadcast-style transport stream
    "flv": (".flv", "flv", "libx264", "yuv420p"),
    "wmv": (".wmv", "asf", "wmv2", "yuv420p"),
    "h264avi": (".avi", "avi", "libx264", "yuv420p"),  # AVI stores no presentation times
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
    gop: int | None = None,
    painter: Callable[[int], np.ndarray] | None = None,
    faststart: bool = False,
    bframes: int = 0,
    chroma_siting: str | None = None,
) -> Path:
    """Encode a video; ``timestamps`` (seconds, increasing) gives a variable frame rate.

    ``gop`` sets the keyframe interval (frames), ``painter(i)`` replaces the procedural
    content of frame ``i`` (an RGB ``uint8`` array of ``height x width x 3``), and
    ``faststart`` puts an MP4/QuickTime index before the media data (as web encoders do);
    ``bframes`` asks x264/x265 for B-frames (frames stored out of display order);
    ``chroma_siting`` is the chroma siting the file declares (FFmpeg's names: ``left``,
    ``center``, ``topleft``, ...; ``None`` declares none), metadata that leaves the pixels as
    they are.
    """
    _suffix, fmt, codec, pix_fmt = KINDS[kind]
    path = Path(path)
    time_base = Fraction(1, 1000)
    options = {"movflags": "faststart"} if faststart and fmt in ("mp4", "mov") else {}
    with av.open(str(path), mode="w", format=fmt, options=options) as container:
        stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.options = _encoder_options(codec, gop, bframes)
        if chroma_siting is not None:
            stream.options = {**stream.options, "chroma_sample_location": chroma_siting}
        if gop is not None:
            stream.codec_context.gop_size = gop
        if rotation is not None:
            stream.set_display_rotation(rotation)
        if timestamps is not None:
            stream.codec_context.time_base = time_base
        for i in range(frames if timestamps is None else len(timestamps)):
            pixels = painter(i) if painter is not None else frame_pixels(i, width, height, seed)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels, dtype=np.uint8), format="rgb24")
            if timestamps is not None:
                frame.pts = round(timestamps[i] / time_base)
                frame.time_base = time_base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _encoder_options(codec: str, gop: int | None, bframes: int = 0) -> dict[str, str]:
    options: dict[str, str] = {}
    if codec in ("libx264", "libx265"):
        options["preset"] = "ultrafast"  # no B-frames unless asked for
        params = [f"keyint={gop}", f"min-keyint={gop}", "scenecut=0"] if gop else []
        params += [f"bframes={bframes}", "b-adapt=0"] if bframes else []
        if codec == "libx265":
            options["x265-params"] = ":".join(["log-level=error", *params])
        elif params:
            options["x264-params"] = ":".join(params)
    if codec == "libsvtav1":
        options["preset"] = "12"
        if gop:
            options["svtav1-params"] = f"keyint={gop}"
    if codec in ("libvpx", "libvpx-vp9") and gop:
        options["auto-alt-ref"] = "0"
    return options


def write_audio(
    path: str | Path, codec: str = "aac", *, seconds: float = 1.0, rate: int = 48000, cover: bool = False
) -> Path:
    """An audio-only file, e.g. ``.m4a``/``.mp4`` with aac or ``.webm`` with opus.

    ``cover`` adds a cover picture (an MJPEG "video" stream marked as attached picture, as
    music files carry; MP4 only), which is not a video.
    """
    path = Path(path)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=rate)
        if cover:
            _add_cover(container)
        size = stream.codec_context.frame_size or 1024
        layout = "stereo" if codec == "libopus" else "mono"
        channels = 2 if layout == "stereo" else 1
        fmt = stream.codec_context.format.name
        t = 0
        while t < seconds * rate:
            wave = 0.1 * np.sin(2 * math.pi * 440 * (t + np.arange(size)) / rate).astype(np.float32)
            data = np.tile(wave, (channels, 1))
            if not fmt.endswith("p"):  # packed: one row of interleaved samples
                data = data.T.reshape(1, -1)
            if fmt.startswith("s16"):
                data = (data * 32767).astype(np.int16)
            elif fmt.startswith("s32"):
                data = (data * 2147483647).astype(np.int32)
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format=fmt, layout=layout)
            frame.sample_rate, frame.pts = rate, t
            for packet in stream.encode(frame):
                container.mux(packet)
            t += size
        for packet in stream.encode():
            container.mux(packet)
    return path


def _add_cover(container: av.container.OutputContainer) -> None:
    picture = container.add_stream("mjpeg", rate=1)
    picture.width, picture.height, picture.pix_fmt = 64, 64, "yuvj420p"
    picture.disposition = av.stream.Disposition.attached_pic
    frame = av.VideoFrame.from_ndarray(frame_pixels(0, 64, 64), format="rgb24").reformat(format="yuvj420p")
    for packet in [*picture.encode(frame), *picture.encode()]:
        container.mux(packet)


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


def transcode_vp9(
    source: str | Path, target: str | Path, frames: int = 75, width: int = 320, height: int = 240
) -> Path:
    """The first ``frames`` frames of a real video as ``width`` x ``height`` VP9 in WebM, 25 fps
    (a file DALI's CPU backend decodes; used to compare decoders on real content)."""
    with av.open(str(source)) as src, av.open(str(target), "w") as out:
        stream = out.add_stream("libvpx-vp9", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"deadline": "realtime", "cpu-used": "8", "crf": "32", "b": "0"}
        for i, frame in enumerate(src.decode(video=0)):
            if i == frames:
                break
            small = frame.reformat(width=width, height=height, format="yuv420p")
            small.pts, small.time_base = i, Fraction(1, 25)
            for packet in stream.encode(small):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return Path(target)


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
