"""Thumbnail strips of the gallery's videos: memo's own decoder, the frames the score used.

Each strip is one small JPEG: the frames side by side, each ``HEIGHT`` pixels high (at most
``MAX_FRAMES`` of them), decoded by memo's PyAV decoder (:mod:`memo.data.decoders`) at
the times the score used. Those are the row's ``frame_times`` when the results have them
(``memo score --per-frame``); otherwise they are computed again the way the scoring run did
(:func:`memo.data.decode.keyframe_times` / ``clip_times`` on memo's index of the file) from
the sampling recorded in the settings sidecar. Every memo decoder returns the frame on
screen at a given time, so PyAV shows the same frames a DALI run scored.

Strips are cached under ``$MEMO_HOME/cache/report-thumbs/``, keyed by the file (resolved
path, size, modification time), the times (or the sampling rule) and the strip's format, so
a second report of the same library decodes nothing. A video that no longer opens gets a
one-line reason instead of a strip (the page shows a placeholder); nothing is raised.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memo.errors import MemoError
from memo.fsio import atomic_write_bytes, memo_home

log = logging.getLogger(__name__)

HEIGHT = 72  # pixels, every frame of a strip
MAX_TILE_WIDTH = 128  # a wider frame is centre-cropped (panoramas)
MIN_TILE_WIDTH = 40  # a taller one too (portrait video keeps a usable tile)
MAX_FRAMES = 8
QUALITY = 70
STRIP_FORMAT = f"jpeg-q{QUALITY}-h{HEIGHT}-w{MIN_TILE_WIDTH}-{MAX_TILE_WIDTH}-n{MAX_FRAMES}-v1"


@dataclass(frozen=True)
class Sampling:
    """How the scoring run chose frames: ``keyframes`` (spread) or ``clip`` (consecutive at fps)."""

    stream: str
    frames: int
    fps: float | None = None

    def describe(self) -> str:
        return f"{self.stream}:{self.frames}:{self.fps}"


@dataclass
class Strip:
    jpeg: bytes
    tiles: int
    times: list[float]  # presentation time (s) of each tile
    cached: bool = False


def sampling_from(sidecar: dict[str, Any] | None) -> Sampling | None:
    """The frame sampling of the sidecar's first video input; the default (7 keyframes) without one.

    ``None`` for a model without frames (captions or features only): there is nothing to show.
    """
    if not sidecar:
        return Sampling("keyframes", 7)
    settings = sidecar.get("settings", {})
    for key, stream in settings.items():
        if key.startswith("input ") and key.endswith(": stream") and stream in ("keyframes", "clip"):
            name = key.removesuffix(": stream")
            fps = settings.get(f"{name}: fps")
            return Sampling(stream, int(settings.get(f"{name}: frames") or 7), float(fps) if fps else None)
    return None


def thin(times: Sequence[float], most: int = MAX_FRAMES) -> list[float]:
    """At most ``most`` of ``times``, spread evenly (all of them when there are few)."""
    if len(times) <= most:
        return list(times)
    return [times[round(i * (len(times) - 1) / (most - 1))] for i in range(most)]


class ThumbnailCache:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else memo_home() / "cache" / "report-thumbs"

    def key(self, video: Path, times: Sequence[float] | None, sampling: Sampling | None) -> str:
        from memo.data.vector_cache import file_key

        rule = " ".join(f"{t:.6f}" for t in times) if times else (sampling.describe() if sampling else "")
        text = f"{file_key(video)}|{rule}|{STRIP_FORMAT}"
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]

    def load(self, key: str) -> Strip | None:
        try:
            jpeg = (self.root / f"{key}.jpg").read_bytes()
            meta = (self.root / f"{key}.txt").read_text(encoding="utf-8").split()
        except OSError:
            return None
        times = [float(t) for t in meta]
        return Strip(jpeg, len(times), times, cached=True)

    def store(self, key: str, strip: Strip) -> None:
        try:
            atomic_write_bytes(self.root / f"{key}.jpg", strip.jpeg)
            atomic_write_bytes(self.root / f"{key}.txt", " ".join(repr(t) for t in strip.times).encode())
        except OSError as exc:  # a read-only cache costs the decode next time, nothing else
            log.warning("thumbnail cache %s: cannot write (%s)", self.root, exc.strerror or exc)


def strip_for(
    video: Path, times: Sequence[float] | None, sampling: Sampling | None, cache: ThumbnailCache
) -> Strip:
    """The strip of ``video`` at ``times`` (or at the times ``sampling`` picks); cached."""
    from memo.data.container import check_readable

    check_readable(str(video))  # "no such file", "permission denied" ... as one line
    key = cache.key(video, times, sampling)
    found = cache.load(key)
    if found is not None:
        return found
    strip = decode_strip(str(video), times, sampling)
    cache.store(key, strip)
    return strip


def decode_strip(path: str, times: Sequence[float] | None, sampling: Sampling | None) -> Strip:
    from memo.data.decode import clip_times, index_video, keyframe_times
    from memo.data.decoders import get_decoder

    info = index_video(path)
    if not times:
        sampling = sampling or Sampling("keyframes", 7)
        if sampling.stream == "clip" and sampling.fps:
            times = clip_times(info, sampling.frames, sampling.fps)
        else:
            times = keyframe_times(info, sampling.frames)
    chosen = thin(times)
    decoded = get_decoder("pyav").read(path, chosen, info)
    return Strip(_jpeg_strip(decoded.frames), len(chosen), [float(t) for t in decoded.times])


def _jpeg_strip(frames: Any) -> bytes:
    from PIL import Image, ImageOps

    tiles = []
    for frame in frames:
        image = Image.fromarray(frame)
        width = round(HEIGHT * image.width / max(image.height, 1))
        width = min(max(width, MIN_TILE_WIDTH), MAX_TILE_WIDTH)
        factor = image.height // (2 * HEIGHT)
        if factor > 1:  # a cheap box reduction first: a 1080p frame becomes 270 lines
            image = image.reduce(factor)
        tiles.append(ImageOps.fit(image, (width, HEIGHT), Image.Resampling.BICUBIC))
    strip = Image.new("RGB", (sum(t.width for t in tiles), HEIGHT))
    x = 0
    for tile in tiles:
        strip.paste(tile, (x, 0))
        x += tile.width
    buffer = io.BytesIO()
    strip.save(buffer, "JPEG", quality=QUALITY, optimize=True, progressive=False)
    return buffer.getvalue()


def make_strips(
    videos: dict[int, tuple[Path, list[float] | None]],
    sampling: Sampling | None,
    cache: ThumbnailCache,
    workers: int = 2,
) -> dict[int, Strip | str]:
    """A strip, or the one-line reason there is none, for each ``{row: (video, times)}``."""

    def one(item: tuple[int, tuple[Path, list[float] | None]]) -> tuple[int, Strip | str]:
        row, (video, times) = item
        try:
            return row, strip_for(video, times, sampling, cache)
        except MemoError as exc:
            return row, " ".join(str(exc).split())
        except Exception as exc:  # a damaged file must not stop the report
            return row, f"{video}: cannot decode ({type(exc).__name__}: {' '.join(str(exc).split())})"

    if sampling is None:
        return {row: "the model scores no frames (captions or features only)" for row in videos}
    from memo.data.decoders import get_decoder

    get_decoder("pyav")  # registered once, before the threads look it up
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return dict(pool.map(one, videos.items()))
