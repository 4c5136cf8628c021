"""Opening a video with PyAV and reading its frames forward, with seeks to keyframes.

The low-level half of :mod:`memo.data.decode`: one-line errors for files that cannot be
videos, choosing the video stream (never a cover picture), and :class:`_Cursor`, the
forward-only reader that the sampler drives (seek to a keyframe, rewind, decode on).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from fractions import Fraction

import av
import av.error
import numpy as np
from PIL import Image

from memo.errors import InputError

#: AV_DISPOSITION_ATTACHED_PIC and AV_DISPOSITION_TIMED_THUMBNAILS: pictures, not video.
_ATTACHED_PIC = 0x0400
_TIMED_THUMBNAILS = 0x0800

#: swscale flags of memo's YUV -> RGB conversion: SWS_BILINEAR | SWS_FULL_CHR_H_INT |
#: SWS_ACCURATE_RND, i.e. chroma interpolated bilinearly at full resolution with exact
#: rounding. It is the conversion NVIDIA DALI's CPU backend makes (bit-identical frames,
#: docs/decoding.md); FFmpeg's default fast path (``frame.to_image()``) differs from it by
#: about 1.2 levels on average, which moved ResMem's scores by up to 0.008.
RGB_SWS_FLAGS = 0x2 | 0x2000 | 0x40000

#: What :func:`frame_rgb` does, as recorded in cache keys (change it when the pixels change).
RGB_CONVERSION = "swscale bilinear+full_chroma_int+accurate_rnd, chroma sited at the centre"

#: Errors from FFmpeg that mean "this packet/frame is damaged", not "stop everything".
_DECODE_ERRORS = (av.error.FFmpegError,)


def check_readable(path: str) -> None:
    """Raise a one-line :class:`InputError` for a path that cannot be a readable file."""
    if os.path.islink(path) and not os.path.exists(path):
        raise InputError(f"{path}: dangling symbolic link (target {os.readlink(path)!r} does not exist)")
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory, not a video file")
    if not os.path.isfile(path):
        raise InputError(f"{path}: not a regular file")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: permission denied")
    if os.path.getsize(path) == 0:
        raise InputError(f"{path}: empty file (0 bytes)")


def _open(path: str) -> av.container.InputContainer:
    check_readable(path)
    try:
        return av.open(path, mode="r", metadata_errors="ignore")
    except PermissionError as exc:
        raise InputError(f"{path}: permission denied") from exc
    except av.error.InvalidDataError as exc:
        raise InputError(
            f"{path}: not a video, or an unreadable/truncated container ({_reason(exc)})"
        ) from exc
    except (av.error.FFmpegError, OSError) as exc:
        if getattr(exc, "errno", None) == errno.EACCES:
            raise InputError(f"{path}: permission denied") from exc
        raise InputError(f"{path}: cannot open ({_reason(exc)})") from exc


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return " ".join(str(text).split())


def _is_picture(stream: av.stream.Stream) -> bool:
    """A cover image or thumbnail stored as a one-frame "video" stream (music files, podcasts)."""
    flags = int(getattr(stream, "disposition", 0) or 0)
    return bool(flags & (_ATTACHED_PIC | _TIMED_THUMBNAILS))


def _video_stream(path: str, container: av.container.InputContainer) -> av.video.stream.VideoStream:
    videos = [s for s in container.streams.video if not _is_picture(s)]
    if not videos:
        kinds = sorted({s.type for s in container.streams if s.type != "video"})
        what = f"only {', '.join(kinds)} streams" if kinds else "no streams at all"
        if container.streams.video:
            what = f"{what} and a cover picture" if kinds else "only a cover picture"
        raise InputError(f"{path}: no video stream ({what})")
    stream = videos[0]
    if stream.codec_context is None or not stream.codec_context.name:
        raise InputError(f"{path}: unsupported video codec")
    return stream


def _seconds(value: int | None, time_base: Fraction | None) -> float | None:
    if value is None or time_base is None:
        return None
    return float(value * time_base)


#: AVFMT_TS_DISCONT: MPEG-TS/PS, whose timestamps may jump and whose time seeking is inexact.
_AVFMT_TS_DISCONT = 0x0200


class _Cursor:
    """Forward-only frame reader over one video stream that can seek to a keyframe or rewind."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._container: av.container.InputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None
        self.seekable = True
        self._frames: Iterator[av.VideoFrame] | None = None
        self._peeked: av.VideoFrame | None = None
        self.current: av.VideoFrame | None = None
        self.errors = 0
        self.decoded = 0  # frames decoded in all
        self.seeks = 0
        self.position = float("-inf")  # time of the last frame consumed
        self.first_time: float | None = None  # time of the first frame since the last seek or rewind
        self.from_start = False  # decoding from the first packet (no seek since)
        self.disordered = 0  # frames whose time is before the previous frame's (untrustworthy times)
        self._last_time: float | None = None
        self._open()

    def _open(self) -> None:
        self.close()
        self._container = _open(self._path)
        self._stream = _video_stream(self._path, self._container)
        self._stream.thread_type = "AUTO"
        if (self._container.format.flags or 0) & _AVFMT_TS_DISCONT:
            self.seekable = False  # a seek lands near, not at, the time asked: decode in order instead

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None

    @property
    def started(self) -> bool:
        return self._frames is not None

    def rewind(self) -> None:
        """Decode from the first packet again (reopening is exact in every container)."""
        if self._frames is not None:
            self._open()
        self._restart()
        self.from_start = True

    def seek(self, t: float) -> None:
        assert self._container is not None and self._stream is not None
        tb = self._stream.time_base
        self._container.seek(round(t / tb), stream=self._stream, backward=True, any_frame=False)
        self.seeks += 1
        self._restart()
        self.from_start = False

    def _restart(self) -> None:
        self._frames = self._decode()
        self._peeked = None
        self.current = None
        self.position = float("-inf")
        self.first_time = None
        self._last_time = None

    def _decode(self) -> Iterator[av.VideoFrame]:
        assert self._container is not None and self._stream is not None
        demux = self._container.demux(self._stream)
        while True:
            try:
                packet = next(demux)
            except StopIteration:
                return
            except _DECODE_ERRORS:
                self.errors += 1
                return  # the container cannot be read past this point
            try:
                yield from packet.decode()
            except _DECODE_ERRORS:
                self.errors += 1

    def _peek(self) -> av.VideoFrame | None:
        if self._peeked is None and self._frames is not None:
            self._peeked = next(self._frames, None)
            if self._peeked is not None:
                self.decoded += 1
                time = self._peeked.time
                if time is not None:
                    if self.first_time is None:
                        self.first_time = float(time)
                    if self._last_time is not None and time < self._last_time - 1e-6:
                        self.disordered += 1  # e.g. H.264 with B-frames in AVI, which stores no pts
                    self._last_time = float(time)
        return self._peeked

    def frame_at(self, t: float, tolerance: float) -> av.VideoFrame | None:
        """The frame on screen at ``t``: the last one with time <= t (+ tolerance)."""
        while True:
            nxt = self._peek()
            if nxt is None or nxt.time is None:
                if nxt is not None:  # a frame without timestamp: take it in order
                    self.current, self._peeked = nxt, None
                    continue
                return self.current
            if nxt.time <= t + tolerance:
                self.current, self._peeked = nxt, None
                self.position = nxt.time
                continue
            return self.current if self.current is not None else nxt

    def landed_after(self, expected: float, tolerance: float) -> bool:
        """After a seek: did decoding start past the frame wanted (or past the end)?"""
        if self.from_start:
            return False
        if self.first_time is None:
            return self.current is None and self.errors == 0
        return self.first_time > expected + tolerance


def frame_rgb(frame: av.VideoFrame) -> np.ndarray:
    """A decoded frame as ``uint8 (H, W, 3)`` RGB, coded orientation, by memo's one conversion.

    Chroma samples are taken as sited at the centre of their luma block (swscale's default),
    whatever siting the file declares: see :func:`_without_chroma_siting`.
    """
    return _without_chroma_siting(frame).reformat(format="rgb24", interpolation=RGB_SWS_FLAGS).to_ndarray()


def _without_chroma_siting(frame: av.VideoFrame) -> av.VideoFrame:
    """The frame's pixels in a new frame that declares no chroma siting (same matrix and range).

    PyAV converts with ``sws_scale_frame``, which places the chroma samples where the frame
    says they are: "left" (MPEG-2/H.264 siting) in every file of ../shared/videos, from the
    bitstream or the Matroska ``ChromaSitingHorz`` tag. DALI's CPU backend converts with
    swscale's older API, which ignores the siting and takes the centre, and has no option to
    honour it nor to hand out YUV. Honouring the siting made PyAV's frames differ from DALI's
    on the real WebM files (0.13 and 0.27 levels mean, up to 28 at colour edges; per-video
    ResMem scores 2.2e-4 and 4.9e-4 apart) while files without the tag were bit-identical.
    So memo converts every frame as untagged, and the decoder no longer moves the score
    (docs/decoding.md, benchmarks/chroma_siting.py). PyAV 18 cannot clear the field on a
    frame, hence the copy of the planes (1.4-1.7 ms per 720p/1080p frame here); formats
    without subsampled chroma (4:4:4, RGB, grey) need none and are returned as they are.
    """
    fmt = frame.format
    if fmt.chroma_width(frame.width) == frame.width and fmt.chroma_height(frame.height) == frame.height:
        return frame
    copy = av.VideoFrame(frame.width, frame.height, fmt.name)
    for source, target in zip(frame.planes, copy.planes, strict=True):
        rows_in = np.frombuffer(source, np.uint8).reshape(-1, source.line_size)
        rows_out = np.frombuffer(target, np.uint8).reshape(-1, target.line_size)
        rows, width = min(len(rows_in), len(rows_out)), min(source.line_size, target.line_size)
        rows_out[:rows, :width] = rows_in[:rows, :width]
    copy.colorspace, copy.color_range = frame.colorspace, frame.color_range
    return copy


def _to_image(frame: av.VideoFrame, rotation: int) -> Image.Image:
    image = Image.fromarray(frame_rgb(frame))  # RGB
    turn = rotation % 360
    if turn == 90:
        image = image.transpose(Image.Transpose.ROTATE_90)  # counter-clockwise
    elif turn == 180:
        image = image.transpose(Image.Transpose.ROTATE_180)
    elif turn == 270:
        image = image.transpose(Image.Transpose.ROTATE_270)
    elif turn:
        image = image.rotate(turn, expand=True)
    return image
