"""Decode frames at chosen timestamps with PyAV.

Sampling is by *presentation time*, never by frame number, so it is correct on
variable-frame-rate video. Each video is first *indexed* by demuxing its packets without
decoding them (cheap: no pixels are touched), which gives the exact time of every frame,
the keyframe positions and the true duration even when the container does not state it
(WebM, GIF, damaged files). Frames are then decoded only where needed: the reader seeks
to the keyframe at or before a target only when that keyframe lies ahead of the frames
already decoded, and otherwise decodes forward. For every target time it returns the
frame on screen at that time (the last frame whose timestamp is <= the target).

Seeks are checked against the index: one that lands past the frame wanted goes back a
keyframe, then falls back to decoding from the start. MPEG program and transport streams
(.mpg, .ts, .m2ts), where seeking by time is inexact and timestamps may jump, are decoded
in order without seeking.

The index also tells damage apart: a file whose frames end well before the duration its
container states is reported as truncated, a stream that stops with an error as damaged;
both are still sampled from the frames that exist, with the reason in the warnings.

Rotation metadata (the display matrix) is honoured: frames come out the way a player
shows them.
"""

from __future__ import annotations

import bisect
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import av
import av.error
from PIL import Image

from memo.data.container import (
    _DECODE_ERRORS,
    _Cursor,
    _open,
    _reason,
    _seconds,
    _to_image,
    _video_stream,
    check_readable,
)
from memo.errors import InputError

__all__ = [
    "SampledFrames",
    "VideoInfo",
    "check_readable",
    "clip_times",
    "index_video",
    "keyframe_times",
    "read_frames_at",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoInfo:
    """What the index pass learned about a video stream."""

    codec: str
    width: int  # coded size; frames come out rotated as the display matrix says
    height: int
    start: float  # seconds, time of the first frame
    duration: float  # seconds, first frame to the end of the last frame
    num_frames: int  # packets carrying a frame
    fps: float  # average frame rate over the stream
    keyframes: tuple[float, ...]  # seconds, sorted
    frame_times: tuple[float, ...]  # seconds, sorted presentation times
    warnings: tuple[str, ...] = ()  # damage found while indexing (truncated, unreadable tail)


@dataclass
class SampledFrames:
    """Frames decoded at requested times, plus what went wrong on the way."""

    images: list[Image.Image]  # RGB, display orientation, one per requested time
    times: list[float]  # presentation time of each returned frame
    requested: list[float]
    info: VideoInfo
    decode_errors: int = 0
    warnings: list[str] = field(default_factory=list)
    decoded: int = 0  # frames the decoder produced to serve the request (the cost)
    seeks: int = 0

    @property
    def distinct(self) -> int:
        return len(set(self.times))


def index_video(path: str) -> VideoInfo:
    """Demux (not decode) the whole video stream once to learn its timing."""
    container = _open(path)
    try:
        return _index(path, container)
    finally:
        container.close()


def _index(path: str, container: av.container.InputContainer) -> VideoInfo:
    stream = _video_stream(path, container)
    tb = stream.time_base
    times: list[float] = []
    keyframes: list[float] = []
    last_end = float("-inf")  # end of the last video frame
    other_end = float("-inf")  # end of the last packet of any other stream
    stopped: str | None = None  # why demuxing stopped early, if it did
    untimed = 0  # video packets without any timestamp
    try:
        # Packets only, nothing is decoded. The other streams are read only where the end of
        # the video stream is not stated (Matroska/WebM): there they tell a cut file from a
        # video track that is shorter than its audio.
        for packet in container.demux(*((stream,) if stream.duration else ())):
            if packet.size == 0:
                continue
            ts = packet.pts if packet.pts is not None else packet.dts
            t = _seconds(ts, packet.time_base)
            if t is None:
                untimed += packet.stream.index == stream.index
                continue
            end = t + (_seconds(packet.duration, packet.time_base) or 0.0)
            if packet.stream.index != stream.index:
                other_end = max(other_end, end)
                continue
            times.append(t)
            if packet.is_keyframe:
                keyframes.append(t)
            last_end = max(last_end, end)
    except _DECODE_ERRORS as exc:
        stopped = _reason(exc)  # a damaged tail: keep what was indexed and say so
    declared = _declared_end(container, stream)
    if not times:
        if untimed:
            raise InputError(
                f"{path}: the video packets carry no timestamps (a raw elementary stream?); "
                "put it in a container first, e.g. ffmpeg -i IN -c copy OUT.mp4"
            )
        if stopped or declared:
            raise InputError(f"{path}: no video frame could be read (truncated or damaged container)")
        raise InputError(f"{path}: video stream has no frames")
    times.sort()
    keyframes.sort()
    start = times[0]
    rate = stream.average_rate or stream.guessed_rate
    span = times[-1] - start
    fps = float(rate) if rate else ((len(times) - 1) / span if span > 0 else 0.0)
    period = 1.0 / fps if fps > 0 else 0.0
    if period and abs((times[-1] - start) - (len(times) - 1) * period) <= float(tb) + 1e-9:
        last_end = start + len(times) * period  # constant frame rate: n frames of 1/fps each
    else:
        last_end = times[-1] + _last_frame_duration(last_end - times[-1], period, float(tb))
    ctx = stream.codec_context
    codec = ctx.codec.canonical_name if ctx.codec is not None else ctx.name
    warnings = _damage_warnings(len(times), last_end, max(last_end, other_end), declared, fps, stopped)
    if not warnings and container.format.name == "gif" and not _ends_with(path, b";"):
        warnings = ("truncated: the GIF ends without its trailer byte",)  # GIF states no duration
    return VideoInfo(
        codec=codec,
        width=ctx.width,
        height=ctx.height,
        start=start,
        duration=max(last_end - start, 0.0),
        num_frames=len(times),
        fps=fps,
        keyframes=tuple(keyframes) or (start,),
        frame_times=tuple(times),
        warnings=warnings,
    )


def _ends_with(path: str, tail: bytes) -> bool:
    try:
        with open(path, "rb") as handle:
            handle.seek(-len(tail), os.SEEK_END)
            return handle.read(len(tail)) == tail
    except OSError:
        return False


def _last_frame_duration(stated: float, period: float, tick: float) -> float:
    """How long the last frame of a variable-frame-rate video stays on screen.

    The container's packet duration, unless it is missing or only differs from the
    average frame period by rounding to the time base.
    """
    if stated <= 0 or abs(stated - period) <= tick + 1e-9:
        return period
    return stated


def _declared_end(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> tuple[float, bool] | None:
    """The end time (seconds) the container states, and whether it is the video stream's own."""
    if stream.duration and stream.time_base:
        return float((stream.start_time or 0) * stream.time_base + stream.duration * stream.time_base), True
    if container.duration and container.duration > 0:
        return (container.start_time or 0) / av.time_base + container.duration / av.time_base, False
    return None


def _damage_warnings(
    frames: int,
    video_end: float,
    any_end: float,
    declared: tuple[float, bool] | None,
    fps: float,
    stopped: str | None,
) -> tuple[str, ...]:
    """Say when fewer frames could be read than the container promises (a cut download, a bad disk)."""
    if stopped:
        return (f"damaged container: reading stopped after {frames} frames at {video_end:.2f} s ({stopped})",)
    if declared is not None:
        stated, own = declared
        end = video_end if own else any_end
        slack = max(2.0 / fps if fps > 0 else 0.0, 0.05 * stated)
        if end < stated - slack:
            return (f"truncated: frames end at {end:.2f} s of {stated:.2f} s stated by the container",)
    return ()


def keyframe_times(info: VideoInfo, count: int) -> list[float]:
    """``count`` times spread evenly over the video: the centres of ``count`` equal segments."""
    if count < 1:
        raise ValueError("count must be >= 1")
    step = info.duration / count
    return [info.start + (i + 0.5) * step for i in range(count)]


def clip_times(info: VideoInfo, length: int, fps: float) -> list[float]:
    """``length`` consecutive times at ``fps``, centred in the video."""
    if length < 1 or fps <= 0:
        raise ValueError("length must be >= 1 and fps > 0")
    span = length / fps
    first = info.start + max(0.0, (info.duration - span) / 2.0)
    return [first + k / fps for k in range(length)]


def read_frames_at(path: str, times: Sequence[float], info: VideoInfo | None = None) -> SampledFrames:
    """Decode the frames shown at each of ``times`` (seconds), in the order given."""
    info = info or index_video(path)
    cursor = _Cursor(path)
    try:
        return _read(path, cursor, list(times), info)
    finally:
        cursor.close()


def _position(cursor: _Cursor, info: VideoInfo, t: float, tolerance: float) -> int:
    """Seek or rewind as needed before decoding forward to ``t``; return the keyframe used."""
    k = max(bisect.bisect_right(info.keyframes, t + tolerance) - 1, 0)
    if not cursor.seekable:
        if not cursor.started or t < cursor.position - tolerance:
            cursor.rewind()
    elif not cursor.started or info.keyframes[k] > cursor.position or t < cursor.position:
        if k == 0 and not cursor.started:
            cursor.rewind()  # the first GOP: no seek needed
        else:
            cursor.seek(info.keyframes[k])
    return k


def _frame_at(cursor: _Cursor, info: VideoInfo, t: float, tolerance: float) -> av.VideoFrame | None:
    """The frame on screen at ``t``, going back when a seek proves inexact."""
    k = _position(cursor, info, t, tolerance)
    frame = cursor.frame_at(t, tolerance)
    expected = info.frame_times[max(bisect.bisect_right(info.frame_times, t + tolerance) - 1, 0)]
    if cursor.landed_after(expected, tolerance) and k > 0:
        cursor.seek(info.keyframes[k - 1])  # one keyframe earlier is usually enough
        frame = cursor.frame_at(t, tolerance)
    if cursor.landed_after(expected, tolerance):
        log.debug("%s: seeking is inexact, decoding from the start", cursor._path)
        cursor.seekable = False
        cursor.rewind()
        frame = cursor.frame_at(t, tolerance)
    return frame


def _read(path: str, cursor: _Cursor, times: list[float], info: VideoInfo) -> SampledFrames:
    tolerance = 1e-6
    chosen: dict[int, tuple[float, Image.Image]] = {}
    last_frame: av.VideoFrame | None = None  # a frame picked twice is converted once
    last_image: Image.Image | None = None
    for i in sorted(range(len(times)), key=times.__getitem__):
        t = times[i]
        frame = _frame_at(cursor, info, t, tolerance)
        if frame is None:
            continue
        rotation = getattr(frame, "rotation", 0) or 0
        if frame is not last_frame or last_image is None:
            last_frame, last_image = frame, _to_image(frame, int(rotation))
        chosen[i] = (float(frame.time if frame.time is not None else t), last_image)

    if not chosen:
        reason = f"{cursor.errors} decode errors" if cursor.errors else "no frame decoded"
        raise InputError(f"{path}: no decodable video frames ({reason})")
    result = SampledFrames(
        images=[],
        times=[],
        requested=list(times),
        info=info,
        decode_errors=cursor.errors,
        decoded=cursor.decoded,
        seeks=cursor.seeks,
    )
    result.warnings.extend(info.warnings)
    missing = 0
    last: tuple[float, Image.Image] | None = None
    for i in range(len(times)):
        pick = chosen.get(i)
        if pick is None:
            missing += 1
            pick = last or chosen[min(chosen)]
        result.times.append(pick[0])
        result.images.append(pick[1])
        last = pick
    if cursor.disordered:
        result.warnings.append(
            "frame timestamps out of display order (B-frames in a container without presentation "
            "times, e.g. H.264 in AVI): frames may be a few positions off"
        )
    if cursor.errors or missing:
        result.warnings.append(
            f"damaged: {cursor.errors} decode error(s), {missing} of {len(times)} frames replaced by neighbours"
        )
    return result
