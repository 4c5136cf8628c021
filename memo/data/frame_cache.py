"""Decoded frames cached on disk for training: decode each video once, reuse every epoch.

Training a video model end to end reads every video once per epoch. Decoding and resizing
dominate that cost on the CPU, so the frames a model's spec asks for (keyframes and/or a
clip) are decoded once with memo's own sampler (:mod:`memo.data.decode`), resized exactly as
the spec's ``Preprocess.resize`` says (PIL, the same call the scorer makes) and stored as
``uint8`` arrays of shape ``(T, H, W, 3)``, *before* the centre crop. Cropping, flipping and
normalisation happen at load time (:mod:`memo.data.augment`): a random crop for training,
the centre crop for evaluation, which makes the evaluation input identical to what
``memo score`` feeds the model.

One file per video (``<sha256>.npz``, written atomically), keyed by the video's path, size
and modification time and by every setting that changes the stored pixels, so an
interrupted fill keeps what it finished and a changed video or spec is decoded again. The
cache is bounded: past ``max_bytes`` the least recently used entries are removed.

Decoding goes through a :class:`~memo.data.decoders.DecoderChoice` (default PyAV; with DALI,
a file DALI cannot take falls back to PyAV for that file only). The sampled times are memo's
either way; DALI's frames come back to the host (the cache is on disk) and are resized by
the same call (:func:`memo.data.preprocess.resize_image`). A non-PyAV decoder is part of the key (two correct decoders differ by a
level or two of 8-bit colour); PyAV entries keep the key they always had. Each entry records
the decoder that produced it (:attr:`CachedVideo.decoder`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from memo.data.container import RGB_CONVERSION
from memo.data.decode import VideoInfo, clip_times, index_video, keyframe_times, read_frames_at
from memo.data.decoders import DecoderChoice, DecoderError
from memo.data.preprocess import resize_image
from memo.errors import InputError
from memo.fsio import atomic_open
from memo.models.spec import InputSpec, ModelSpec

log = logging.getLogger(__name__)

VISUAL = ("keyframes", "clip")


@dataclass(frozen=True)
class CachedVideo:
    """A video's cached frames: input name -> ``uint8 (T, H, W, 3)``, plus sampling warnings."""

    frames: dict[str, np.ndarray]
    warnings: tuple[str, ...] = ()
    decoder: str = ""  # the decoder(s) that produced the frames, e.g. "pyav", "dali"; "" if not recorded


def visual_inputs(spec: ModelSpec) -> tuple[InputSpec, ...]:
    return tuple(i for i in spec.inputs if i.stream in VISUAL)


def _resize(image: Image.Image, item: InputSpec) -> np.ndarray:
    """The scorer's resize (:func:`memo.data.preprocess.resize_image`), whichever decoder ran."""
    assert item.preprocess is not None
    return resize_image(image, item.preprocess.resize, item.preprocess.interpolation)


def _sample(
    path: str, times: list[float], info: VideoInfo, decoder: DecoderChoice | None
) -> tuple[list[Image.Image], list[str], str]:
    """The frames on screen at ``times`` as PIL images, their warnings, the decoder used."""
    if decoder is None or decoder.name == "pyav":
        sample = read_frames_at(path, times, info)
        return list(sample.images), list(sample.warnings), "pyav"
    try:
        decoded = decoder.read(path, times, info)
    except ValueError as exc:  # PyAV's fallback stacks frames: sizes that change mid-stream
        raise InputError(f"{path}: {exc}") from exc
    return [Image.fromarray(frame) for frame in decoded.frames], decoded.warnings, decoded.decoder


def decode_for_cache(path: str, spec: ModelSpec, decoder: DecoderChoice | None = None) -> CachedVideo:
    """Decode and resize the frames of every visual input of ``spec`` (raises InputError, or
    DecoderError when a decoder without fallback cannot take the file); ``decoder`` defaults
    to PyAV."""
    info = index_video(path)
    frames: dict[str, np.ndarray] = {}
    warnings: list[str] = []
    used: list[str] = []
    for item in visual_inputs(spec):
        if item.stream == "keyframes":
            times = keyframe_times(info, item.num_frames)
        else:
            times = clip_times(info, item.num_frames, float(item.fps or 0))
        images, sample_warnings, name = _sample(path, times, info, decoder)
        warnings.extend(sample_warnings)
        used.append(name)
        resized = [_resize(image, item) for image in images]
        if len({a.shape for a in resized}) != 1:
            raise InputError(f"{path}: frames change size mid-stream; cannot stack them")
        frames[item.name] = np.stack(resized)
    return CachedVideo(frames, tuple(warnings), "+".join(dict.fromkeys(used)))


def _settings(spec: ModelSpec, decoder: DecoderChoice | None = None) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for item in visual_inputs(spec):
        assert item.preprocess is not None
        out.append(
            {
                "name": item.name,
                "stream": item.stream,
                "frames": item.num_frames,
                "fps": item.fps,
                "resize": list(item.preprocess.resize),
                "interpolation": item.preprocess.interpolation,
            }
        )
    if decoder is not None and decoder.name != "pyav":  # PyAV entries keep their earlier keys
        out.append({"decoder": decoder.name})
    out.append({"rgb": RGB_CONVERSION})  # memo.data.container.frame_rgb
    return out


class FrameCache:
    """Frames of ``spec``'s visual inputs for many videos, one ``.npz`` file per video.

    ``decoder``: a choice from :func:`memo.data.decoders.resolve_decoder` (resolve it, and so
    refuse a bad ``--decoder``, before any work); ``None`` is PyAV. Fill the cache from the
    main process (:meth:`fill`): DALI pipelines are per thread and not meant for forked
    DataLoader workers, which then only read the files.
    """

    def __init__(
        self,
        root: str | Path,
        spec: ModelSpec,
        max_bytes: int | None = None,
        decoder: DecoderChoice | None = None,
    ) -> None:
        if not visual_inputs(spec):
            raise ValueError(f"model {spec.name!r} has no keyframes/clip input to cache")
        self.root = Path(root)
        self.spec = spec
        self.max_bytes = max_bytes
        self.decoder = decoder
        self._settings = json.dumps(_settings(spec, decoder), sort_keys=True)
        self._lock = threading.Lock()
        self._total: int | None = None

    # ------------------------------------------------------------------ keys and files

    def key(self, path: str) -> str:
        stat = os.stat(path)
        text = f"{os.path.abspath(path)}\0{stat.st_size}\0{stat.st_mtime_ns}\0{self._settings}"
        return hashlib.sha256(text.encode()).hexdigest()

    def file(self, path: str) -> Path:
        key = self.key(path)
        return self.root / key[:2] / f"{key}.npz"

    def __contains__(self, path: str) -> bool:
        try:
            return self.file(path).is_file()
        except OSError:
            return False

    # ------------------------------------------------------------------ read / write

    def load(self, path: str) -> CachedVideo:
        """The cached frames of ``path`` (decoding and storing them first if absent)."""
        target = self.file(path)
        try:
            with np.load(target, allow_pickle=False) as data:
                frames = {k: data[k] for k in data.files if not k.startswith("__")}
                warnings = tuple(str(w) for w in data["__warnings__"]) if "__warnings__" in data else ()
                used = str(data["__decoder__"]) if "__decoder__" in data else ""
            os.utime(target)  # recency, for the size bound
            return CachedVideo(frames, warnings, used)
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:  # a damaged cache entry is decoded again
            log.warning("%s: unreadable cache entry for %s (%s); decoding again", target, path, exc)
        video = decode_for_cache(path, self.spec, self.decoder)
        self._store(target, video)
        return video

    def _store(self, target: Path, video: CachedVideo) -> None:
        arrays = dict(video.frames)
        arrays["__warnings__"] = np.asarray(list(video.warnings), dtype=np.str_)
        arrays["__decoder__"] = np.asarray(video.decoder, dtype=np.str_)
        with atomic_open(target, "wb") as handle:
            np.savez(handle, **arrays)
        self._account(target.stat().st_size)

    # ------------------------------------------------------------------ filling and the bound

    def fill(
        self,
        paths: Sequence[str],
        workers: int = 2,
        on_done: Callable[[int, int], None] | None = None,
    ) -> dict[str, str]:
        """Make sure every path is cached; returns ``path -> one-line error`` for the failures.

        Videos already cached are skipped, so an interrupted fill resumes where it stopped.
        """
        errors: dict[str, str] = {}
        todo = [p for p in paths if p not in self]
        done = len(paths) - len(todo)
        if on_done:
            on_done(done, len(paths))

        def work(path: str) -> tuple[str, str | None]:
            try:
                self.load(path)
                return path, None
            except (InputError, DecoderError) as exc:
                return path, str(exc)
            except OSError as exc:
                return path, f"{path}: {exc.strerror or exc}"

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for path, error in pool.map(work, todo):
                done += 1
                if error:
                    errors[path] = error
                if on_done:
                    on_done(done, len(paths))
        return errors

    def size_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.root.glob("*/*.npz")) if self.root.is_dir() else 0

    def _account(self, added: int) -> None:
        if self.max_bytes is None:
            return
        with self._lock:
            if self._total is None:
                self._total = self.size_bytes()
            else:
                self._total += added
            if self._total > self.max_bytes:
                self._total = self._evict(self.max_bytes)

    def _evict(self, limit: int) -> int:
        """Remove least recently used entries until at most ``limit`` bytes remain."""
        entries = []
        for f in self.root.glob("*/*.npz"):
            try:
                st = f.stat()
            except FileNotFoundError:
                continue
            entries.append((st.st_mtime, st.st_size, f))
        entries.sort()
        total = sum(size for _, size, _ in entries)
        for _, size, f in entries:
            if total <= limit:
                break
            f.unlink(missing_ok=True)
            total -= size
            log.info("frame cache over %d bytes: removed %s", limit, f.name)
        return total
