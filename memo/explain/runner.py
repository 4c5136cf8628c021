"""Explain a model's scores on videos: attention overlays, a contact sheet, per-head scores.

A model that can show where it looks implements ``attention(**inputs)``, returning
named maps shaped ``(videos, T, h, w)`` (``unit: video``) or ``(frames, h, w)`` (``unit:
frame``, one map per scored frame). memo draws every map over the frame it belongs to (the
frames exactly as the model saw them: sampled, resized and cropped as its bundle says) and
writes, per video, ``<out>/<video>/<map>_f<k>.png``, ``contact_sheet.png`` (frames on top,
one row per map) and ``scores.json`` (every output of the model, i.e. each head's score
where a model has several). A model without attention maps gets Grad-CAM maps on its last
convolution instead (:mod:`memo.explain.gradcam`; ``scores.json`` says which, under ``maps``).
Frames are drawn at their own size and aspect ratio (decoded again by PyAV at the sampled
times), with the map over the part of the frame the model saw and the rest dimmed; under
each frame the sheet gives its time and, for a model that scores frames, its score.
A model with per-module contributions (``contributions(**inputs)``, e.g. ``m3s``) also gets
``contributions_<output>.png``, a bar chart per video (:mod:`memo.explain.contrib`), even
when it takes no frames (then there is no contact sheet).

Frames are decoded by the run's decoder (``auto``, ``pyav``, ``dali``; a file DALI cannot
take falls back to PyAV), and ``scores.json`` records which decoder produced them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from memo.data.decoders import DecoderChoice, DecoderError, resolve_decoder
from memo.data.inputs import StreamProvider, prepare_video
from memo.errors import InputError, MemoError
from memo.explain.gradcam import gradcam
from memo.explain.render import contact_sheet, crop_box, overlay, overlay_in_box
from memo.fsio import atomic_path, atomic_write_json
from memo.models.bundle import Bundle
from memo.models.spec import InputSpec, ModelSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExplainOptions:
    videos: Sequence[str]
    output: Path
    model: str = "resmem"
    device: str = "cpu"
    providers: Mapping[str, StreamProvider] = field(default_factory=dict)  # --text / --features inputs
    decoder: str = "auto"  # auto, pyav or dali (memo.data.decoders)


@dataclass
class ExplainResult:
    video: str
    folder: Path | None
    scores: dict[str, Any] = field(default_factory=dict)
    maps: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    error: str | None = None
    decoder: str = ""  # the decoder that produced the frames ("pyav", "dali")
    method: str = ""  # what the maps are: the model's attention, or Grad-CAM on which layer


def display_frames(array: np.ndarray, item: InputSpec) -> np.ndarray:
    """Model input of one video -> ``uint8 (T, H, W, 3)`` as the model saw it (normalisation undone)."""
    assert item.preprocess is not None
    if hasattr(array, "cpu"):  # a torch tensor (DALI on a GPU): copied to the host to be drawn
        array = array.cpu().numpy()
    frames = array.transpose(1, 0, 2, 3) if item.stream == "clip" else array  # (T, 3, H, W)
    mean = np.asarray(item.preprocess.mean, dtype=np.float32)[:, None, None]
    std = np.asarray(item.preprocess.std, dtype=np.float32)[:, None, None]
    pixels = (frames * std + mean).transpose(0, 2, 3, 1)
    return (pixels * 255).round().clip(0, 255).astype(np.uint8)


def _visual(spec: ModelSpec) -> InputSpec:
    for item in spec.inputs:
        if item.stream in ("keyframes", "clip"):
            return item
    raise MemoError(f"model {spec.name!r} takes no frames: there is nothing to draw attention on")


def _per_video_maps(maps: Mapping[str, torch.Tensor], spec: ModelSpec) -> dict[str, np.ndarray]:
    out = {}
    for name, value in maps.items():
        array = value.detach().float().cpu().numpy()
        if spec.unit == "frame" and array.ndim == 3:
            array = array[None]
        if array.ndim != 4:
            raise MemoError(f"attention map {name!r} has shape {array.shape}; expected (videos, T, h, w)")
        out[name] = array[0]
    return out


def _scores(outputs: Mapping[str, torch.Tensor], spec: ModelSpec) -> dict[str, Any]:
    scores: dict[str, Any] = {}
    for name, value in outputs.items():
        values = value.detach().float().cpu().numpy().reshape(-1)
        if spec.unit == "frame":
            scores[name] = float(values.mean())
            scores[f"{name}_per_frame"] = [float(v) for v in values]
        else:
            scores[name] = float(values[0])
    return scores


def _slug(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", Path(path).name) or "video"


def explain_one(
    path: str,
    bundle: Bundle,
    module: torch.nn.Module,
    options: ExplainOptions,
    decoder: DecoderChoice | None = None,
) -> ExplainResult:
    spec = bundle.spec
    contrib_fn = getattr(module, "contributions", None)  # per-module contributions (m3s)
    item = _visual(spec) if contrib_fn is None or _has_frames(spec) else None
    prepared = prepare_video(path, spec, options.providers, decoder)
    inputs = {k: torch.as_tensor(v).to(options.device) for k, v in prepared.arrays.items()}
    with torch.inference_mode():
        outputs = module(**inputs)
    maps, method = _maps(module, inputs, spec) if item is not None else ({}, "")
    folder = options.output / _slug(path)
    folder.mkdir(parents=True, exist_ok=True)
    result = ExplainResult(path, folder, _scores(outputs, spec), sorted(maps), decoder=prepared.decoder)
    result.method = method
    if contrib_fn is not None:
        from memo.explain.contrib import write_contributions

        with torch.inference_mode():
            result.files += write_contributions(contrib_fn(**inputs), result.scores, path, folder)
    if item is None:  # nothing to draw frames of (e.g. m3s on precomputed inputs or low-level only)
        return _write_scores(result, folder)
    array = prepared.arrays[item.name]
    seen = display_frames(array if spec.unit == "frame" else array[0], item)
    originals = _original_frames(path, prepared.times, len(seen))
    frames = originals if originals is not None else seen
    rows = [("frames", [_image(f) for f in frames])]
    for name, stack in maps.items():
        images = []
        for k, amap in enumerate(stack):
            at = round(k * (len(frames) - 1) / max(1, len(stack) - 1))
            image = _draw(frames[at], amap, item) if originals is not None else overlay(frames[at], amap)
            result.files.append(_save(image, folder / f"{name}_f{k}.png"))
            images.append(image)
        rows.append((name, images))
    title = f"{Path(path).name}  " + "  ".join(
        f"{k}={v:.3f}" for k, v in result.scores.items() if isinstance(v, float)
    )
    title += f"  (map: {method})" if method else ""
    notes = _frame_notes(result.scores, spec, prepared.times[: len(frames)])
    result.files.append(_save(contact_sheet(rows, title, notes=notes), folder / "contact_sheet.png"))
    return _write_scores(result, folder)


def _maps(
    module: torch.nn.Module, inputs: Mapping[str, torch.Tensor], spec: ModelSpec
) -> tuple[dict[str, np.ndarray], str]:
    """The model's own attention maps, else Grad-CAM on its last convolution; and which it is."""
    maps_fn: Callable[..., Mapping[str, torch.Tensor]] | None = getattr(module, "attention", None)
    if maps_fn is not None:
        with torch.inference_mode():
            return _per_video_maps(maps_fn(**inputs), spec), "the model's attention"
    cam = gradcam(module, inputs)
    if cam is None:
        return {}, ""
    return _per_video_maps(cam.maps, spec), f"Grad-CAM on {cam.layer}"


def _original_frames(path: str, times: Sequence[float], count: int) -> list[np.ndarray] | None:
    """The sampled frames at their own size and aspect ratio (None: PyAV cannot read them)."""
    from memo.data.decode import read_frames_at

    if not times:
        return None
    try:
        sample = read_frames_at(path, list(times)[:count])
    except (InputError, DecoderError, OSError) as exc:
        log.info("%s: drawing on the model's view of the frames (%s)", path, exc)
        return None
    frames = [np.asarray(image.convert("RGB")) for image in sample.images]
    return frames if len(frames) == count else None


def _draw(frame: np.ndarray, amap: np.ndarray, item: InputSpec):  # type: ignore[no-untyped-def]
    assert item.preprocess is not None
    height, width = frame.shape[:2]
    box = crop_box(width, height, item.preprocess.resize, item.preprocess.crop)
    return overlay_in_box(frame, amap, box)


def _frame_notes(scores: Mapping[str, Any], spec: ModelSpec, times: Sequence[float]) -> list[str]:
    """Under each frame: its time and, for a model that scores frames, its score."""
    first = spec.output_names[0]
    per_frame = scores.get(f"{first}_per_frame") or []
    notes = []
    for k, t in enumerate(times):
        note = f"{t:.2f}s"
        if k < len(per_frame):
            note += f"  {first} {per_frame[k]:.3f}"
        notes.append(note)
    return notes


def _has_frames(spec: ModelSpec) -> bool:
    return any(i.stream in ("keyframes", "clip") for i in spec.inputs)


def _write_scores(result: ExplainResult, folder: Path) -> ExplainResult:
    atomic_write_json(
        folder / "scores.json",
        {"video": result.video, "decoder": result.decoder, "maps": result.method, **result.scores},
    )
    result.files.append(folder / "scores.json")
    return result


def _image(frame: np.ndarray):  # type: ignore[no-untyped-def]
    from PIL import Image

    return Image.fromarray(frame)


def _save(image, path: Path) -> Path:  # type: ignore[no-untyped-def]
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
    return path


def explain_videos(
    options: ExplainOptions, on_result: Callable[[ExplainResult], None] | None = None
) -> list[ExplainResult]:
    """Explain every video; a video that cannot be read gets a result with its one-line error."""
    from memo.models.named import resolve_model
    from memo.runtime.base import resolve_device

    decoder = resolve_decoder(options.decoder, resolve_device(options.device))  # usage errors first
    bundle = resolve_model(options.model)
    module = bundle.build_module().eval().to(options.device)
    results = []
    for path in options.videos:
        try:
            result = explain_one(path, bundle, module, options, decoder)
        except (InputError, DecoderError, OSError) as exc:
            result = ExplainResult(path, None, error=str(exc))
        results.append(result)
        if on_result:
            on_result(result)
    return results
