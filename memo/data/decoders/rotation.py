"""The display rotation of a video, as PyAV applies it to decoded frames."""

from __future__ import annotations

import av
import av.error

from memo.data.decode import check_readable


def display_rotation(path: str) -> int:
    """Counter-clockwise rotation (0, 90, 180, 270) that a player applies to ``path``'s frames.

    FFmpeg attaches the container's display matrix to decoded frames, not to anything PyAV
    exposes on the stream, so this decodes the first frame (one keyframe) to read it.
    Decoders that ignore the display matrix (DALI) rotate by this afterwards.
    """
    check_readable(path)
    with av.open(path, mode="r", metadata_errors="ignore") as container:
        stream = container.streams.video[0]
        try:
            for frame in container.decode(stream):
                return int(getattr(frame, "rotation", 0) or 0) % 360
        except av.error.FFmpegError:
            return 0  # the decoder reports damage on its own; no rotation information
    return 0
