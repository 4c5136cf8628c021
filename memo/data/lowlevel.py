"""Low-level video features for M3-S's low tier, computed from the video file.

Per sampled frame (frames resized to ``size x size``, as the released M3-S code resizes
to 256 x 256 before its features; memo's default is smaller, see :class:`LowLevelConfig`):

* **HOG** — OpenCV's ``HOGDescriptor`` on the grey frame: 8 x 8 cells, 16 x 16 blocks with
  an 8-pixel stride, 9 orientation bins (the released code uses scikit-image's ``hog`` with
  the same cell/block/bin geometry on the RGB frame; OpenCV's block normalisation
  (L2-Hys) and its grey input differ in detail). The PCA that reduces it to 10 numbers is
  fitted on the training set and lives in the model (:mod:`memo.models.m3s_fit`).
* **brightness** — mean grey level in [0, 255] (ITU-R 601 luma). The released code
  averages the first row of the HSV image (``hsv[0].mean()``), which looks unintended;
  this is the plain reading of "brightness".
* **contrast** — standard deviation of the grey levels (as the released code).
* **blurriness** — the released code's measure: zero the centre of the shifted 2-D FFT
  (a square of half-side ``highpass`` x size; 60 px on a 500-px-wide frame there), invert,
  and take the mean of ``20 log|x|``: the energy left after a high-pass. Despite the
  name it is *higher for sharper* frames.
* **flow** — mean magnitude of OpenCV's dense Farnebäck optical flow between the sampled
  frame and the next frame of the video, in pixels (at ``size``) per second.

Per video: **bytes_per_second** — the sum of the video stream's packet sizes over its
duration, read by demuxing the container without decoding (the released code measures
the size of the video-only stream copied out with ffmpeg, not divided by the duration).

The extractor's output is one ``(num_frames, hog_dim + 5)`` float32 array per video:
``[hog | brightness, contrast, blurriness, flow | bytes_per_second]`` with the per-video
column repeated on every row. Everything fitted (HOG PCA, normalisation, temporal
pooling) happens in the model's forward, so PyTorch and ONNX Runtime see the same array;
HOG and optical flow themselves are not graph operations and stay here, in the data layer.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import av
import numpy as np
from PIL import Image

from memo.data.decode import VideoInfo, index_video, keyframe_times, read_frames_at
from memo.errors import BundleError, InputError
from memo.models.lowlevel_layout import BINS, BLOCK, CELL, STRIDE, lowlevel_dim
from memo.models.spec import InputSpec


@dataclass(frozen=True)
class LowLevelConfig:
    """``size``: frames are resized to ``size x size`` (a multiple of 8, >= 16; the paper
    uses 256, memo's default 128 keeps HOG at 8,100 values); ``num_frames`` sampled evenly
    as the keyframes stream; ``highpass``: half-side of the removed FFT square, as a
    fraction of the frame size."""

    size: int = 128
    num_frames: int = 8
    highpass: float = 0.12

    def __post_init__(self) -> None:
        if self.size < BLOCK or self.size % CELL:
            raise ValueError(f"low-level frame size must be a multiple of {CELL} and >= {BLOCK}")
        if self.num_frames < 1:
            raise ValueError("low-level num_frames must be >= 1")

    @property
    def dim(self) -> int:
        return lowlevel_dim(self.size)


def _cv2():  # type: ignore[no-untyped-def]
    try:
        import cv2
    except ImportError:
        raise InputError(
            "low-level features need OpenCV: pip install 'memo[m3s]' (opencv-python-headless)"
        ) from None
    return cv2


def to_grey(rgb: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB -> ``(H, W)`` uint8 grey (ITU-R 601, OpenCV's rounding)."""
    return _cv2().cvtColor(np.ascontiguousarray(rgb), _cv2().COLOR_RGB2GRAY)


def frame_hog(grey: np.ndarray) -> np.ndarray:
    """HOG of a square grey frame whose side is a multiple of 8: ``hog_dim(side)`` floats."""
    cv2 = _cv2()
    side = grey.shape[0]
    descriptor = cv2.HOGDescriptor((side, side), (BLOCK, BLOCK), (STRIDE, STRIDE), (CELL, CELL), BINS)
    return descriptor.compute(np.ascontiguousarray(grey)).reshape(-1).astype(np.float32)


def brightness(grey: np.ndarray) -> float:
    return float(grey.mean())


def contrast(grey: np.ndarray) -> float:
    return float(grey.std())


def blurriness(grey: np.ndarray, highpass: float = 0.12) -> float:
    """Mean ``20 log|x|`` of the frame after removing the low frequencies (higher = sharper)."""
    h, w = grey.shape
    spectrum = np.fft.fftshift(np.fft.fft2(grey.astype(np.float64)))
    ry, rx = max(1, round(highpass * h)), max(1, round(highpass * w))
    cy, cx = h // 2, w // 2
    spectrum[cy - ry : cy + ry, cx - rx : cx + rx] = 0
    recon = np.fft.ifft2(np.fft.ifftshift(spectrum))
    return float(np.mean(20.0 * np.log(np.abs(recon) + 1e-3)))


def flow_field(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Farnebäck dense optical flow ``(H, W, 2)`` in pixels from grey ``first`` to ``second``
    (OpenCV's usual parameters: pyramid scale 0.5, 3 levels, 15-pixel window, 3 iterations)."""
    return _cv2().calcOpticalFlowFarneback(first, second, None, 0.5, 3, 15, 3, 5, 1.2, 0)


def flow_magnitude(first: np.ndarray, second: np.ndarray) -> float:
    """Mean flow magnitude (pixels). Dense flow is smoothed over flat regions, so on real
    frames the mean reads ~15 % below a uniform shift (the median is within a few %)."""
    flow = flow_field(first, second).astype(np.float64)
    return float(np.sqrt((flow**2).sum(axis=2)).mean())


def stream_bytes_per_second(path: str, info: VideoInfo | None = None) -> float:
    """Bytes of the video stream's packets per second of video (demux only, no decode)."""
    info = info or index_video(path)
    total = 0
    try:
        with av.open(path) as container:
            stream = next(s for s in container.streams if s.type == "video")
            for packet in container.demux(stream):
                total += packet.size
    except (av.error.FFmpegError, StopIteration, OSError) as exc:
        raise InputError(f"{path}: cannot read the video packets ({exc})") from exc
    return total / info.duration if info.duration > 0 else 0.0


def partner_times(info: VideoInfo, times: list[float]) -> list[float]:
    """For each time, the presentation time of the next frame (the previous one at the end)."""
    frames = info.frame_times
    out = []
    for t in times:
        i = max(0, bisect.bisect_right(frames, t + 1e-9) - 1)
        j = i + 1 if i + 1 < len(frames) else max(0, i - 1)
        out.append(frames[j])
    return out


def grey_frames(images: list[Image.Image], size: int) -> list[np.ndarray]:
    resized = [im.convert("RGB").resize((size, size), Image.Resampling.BILINEAR) for im in images]
    return [to_grey(np.asarray(im)) for im in resized]


def frame_features(grey: np.ndarray, highpass: float = 0.12) -> np.ndarray:
    """``[hog | brightness, contrast, blurriness]`` of one grey frame."""
    scalars = [brightness(grey), contrast(grey), blurriness(grey, highpass)]
    return np.concatenate([frame_hog(grey), np.asarray(scalars, np.float32)])


def extract_lowlevel(path: str, config: LowLevelConfig, info: VideoInfo | None = None) -> np.ndarray:
    """The ``(num_frames, hog_dim + 5)`` low-level array of one video (see the module doc)."""
    info = info or index_video(path)
    times = keyframe_times(info, config.num_frames)
    partners = partner_times(info, times)
    wanted = sorted(set(times) | set(partners))
    sample = read_frames_at(path, wanted, info)
    greys = dict(zip(wanted, grey_frames(sample.images, config.size), strict=True))
    shown = dict(zip(wanted, sample.times, strict=True))
    rate = stream_bytes_per_second(path, info)
    rows = []
    for t, p in zip(times, partners, strict=True):
        dt = abs(shown[p] - shown[t])
        flow = flow_magnitude(greys[t], greys[p]) / dt if dt > 0 else 0.0
        base = frame_features(greys[t], config.highpass)
        rows.append(np.concatenate([base, np.asarray([flow, rate], np.float32)]))
    return np.stack(rows).astype(np.float32)


def lowlevel_array(path: str, spec: InputSpec, info: VideoInfo | None = None) -> np.ndarray:
    """The array a ``lowlevel`` model input asks for (frame size = ``spec.preprocess.crop``)."""
    assert spec.preprocess is not None  # checked by InputSpec
    try:
        config = LowLevelConfig(size=int(spec.preprocess.crop[0]), num_frames=spec.num_frames)
    except ValueError as exc:
        raise BundleError(f"input {spec.name!r}: {exc}") from None
    if config.dim != spec.dim:
        raise BundleError(
            f"input {spec.name!r}: dim {spec.dim} does not match frame size {config.size} ({config.dim})"
        )
    return extract_lowlevel(path, config, info)
