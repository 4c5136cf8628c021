"""The data that describes a model: its inputs, preprocessing and outputs.

A :class:`ModelSpec` is stored as ``config.json`` in a bundle; the runtime configures
itself from it alone. Everything here is plain data (JSON round-trip), never code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

import numpy as np

from memo.errors import BundleError

Stream = Literal["keyframes", "clip", "text", "features", "lowlevel"]
STREAMS: tuple[str, ...] = ("keyframes", "clip", "text", "features", "lowlevel")
#: Inputs memo computes from the video file itself (the others come from side files).
FROM_VIDEO: tuple[str, ...] = ("keyframes", "clip", "lowlevel")
FORMAT = "memo-bundle/1"
AGGREGATES: tuple[str, ...] = ("mean", "median")


@dataclass(frozen=True)
class Preprocess:
    """Image preprocessing, applied per frame exactly like torchvision on PIL images.

    ``resize`` is ``[H, W]`` (stretch to that size) or ``[S]`` (shorter side to S, keep
    aspect); ``crop`` is the centre crop ``[H, W]``; pixel values are scaled to [0, 1]
    and then normalised with ``mean``/``std``.
    """

    resize: tuple[int, ...] = (256, 256)
    crop: tuple[int, int] = (227, 227)
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    interpolation: Literal["bilinear", "bicubic", "nearest"] = "bilinear"


@dataclass(frozen=True)
class InputSpec:
    """One named input of a model.

    * ``keyframes``: ``num_frames`` frames spread evenly over the video, each preprocessed.
    * ``clip``: ``num_frames`` consecutive frames at ``fps``, centred in the video.
    * ``text``: a caption embedded by ``encoder`` into ``dim`` floats.
    * ``features``: a precomputed vector of ``dim`` floats read from a file.
    * ``lowlevel``: ``(num_frames, dim)`` low-level measurements computed from the video by
      :mod:`memo.data.lowlevel` (HOG, brightness, ...) on frames resized to
      ``preprocess.crop`` (only that size is used).
    """

    name: str
    stream: Stream
    num_frames: int = 7
    fps: float | None = None
    preprocess: Preprocess | None = None
    dim: int | None = None
    encoder: str | None = None

    def __post_init__(self) -> None:
        if self.stream not in STREAMS:
            raise BundleError(
                f"input {self.name!r}: unknown stream {self.stream!r} (one of {', '.join(STREAMS)})"
            )
        if self.stream in ("keyframes", "clip") and self.preprocess is None:
            raise BundleError(f"input {self.name!r}: a {self.stream} input needs 'preprocess'")
        if self.stream == "clip" and not self.fps:
            raise BundleError(f"input {self.name!r}: a clip input needs 'fps'")
        if self.stream == "lowlevel" and (self.preprocess is None or not self.dim):
            raise BundleError(f"input {self.name!r}: a lowlevel input needs 'preprocess' and 'dim'")
        if self.stream in ("text", "features") and not self.dim:
            raise BundleError(f"input {self.name!r}: a {self.stream} input needs 'dim'")


@dataclass(frozen=True)
class OutputSpec:
    name: str
    description: str = ""


@dataclass(frozen=True)
class ModelSpec:
    """What a bundle's ``config.json`` holds.

    ``unit`` says what one row of a batch is: ``"frame"`` (each keyframe is scored on its
    own and the video score is the ``aggregate`` of its frames, as the VideoMem paper's
    frame baselines do) or ``"video"`` (one row per video; frame inputs then carry a time
    axis: ``(B, T, C, H, W)``). ``aggregate`` is ``"mean"`` or ``"median"`` (robust to a few
    odd frames such as a black fade); with one row per video it changes nothing.
    """

    name: str
    architecture: str
    version: str = "1"
    arch_args: dict[str, Any] = field(default_factory=dict)
    inputs: tuple[InputSpec, ...] = ()
    outputs: tuple[OutputSpec, ...] = (OutputSpec("score"),)
    unit: Literal["frame", "video"] = "frame"
    aggregate: Literal["mean", "median"] = "mean"
    description: str = ""
    licence: str | None = None
    export_atol: float = 1e-4
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.inputs:
            raise BundleError(f"model {self.name!r}: no inputs declared")
        if self.aggregate not in AGGREGATES:
            raise BundleError(
                f"model {self.name!r}: unknown aggregate {self.aggregate!r} (one of {', '.join(AGGREGATES)})"
            )
        if self.unit == "frame" and (len(self.inputs) != 1 or self.inputs[0].stream != "keyframes"):
            raise BundleError(f"model {self.name!r}: unit 'frame' needs exactly one keyframes input")
        names = [i.name for i in self.inputs] + [o.name for o in self.outputs]
        if len(set(names)) != len(names):
            raise BundleError(f"model {self.name!r}: input/output names must be unique, got {names}")

    @property
    def streams(self) -> tuple[str, ...]:
        return tuple(i.stream for i in self.inputs)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.outputs)

    def aggregate_rows(self, values: Any) -> float:
        """One video's score from its rows' scores (the frames of a ``unit="frame"`` model)."""
        rows = np.asarray(values, dtype=np.float64).reshape(-1)
        return float(np.median(rows) if self.aggregate == "median" else rows.mean())

    def input(self, name: str) -> InputSpec:
        for spec in self.inputs:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def with_(self, **changes: Any) -> ModelSpec:
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data = {"format": FORMAT, **data}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelSpec:
        fmt = data.get("format", FORMAT)
        if fmt != FORMAT:
            raise BundleError(f"unsupported bundle format {fmt!r} (this memo reads {FORMAT!r})")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known - {"format"}
        if unknown:
            raise BundleError(f"config.json: unknown keys {sorted(unknown)}")
        try:
            inputs = tuple(_input_from_json(i) for i in data.get("inputs", ()))
            outputs = tuple(OutputSpec(**o) for o in data.get("outputs", ({"name": "score"},)))
            rest = {k: v for k, v in data.items() if k in known and k not in ("inputs", "outputs")}
            if "arch_args" in rest:
                rest["arch_args"] = canonical_arch_args(rest["arch_args"])
            return cls(inputs=inputs, outputs=outputs, **rest)
        except TypeError as exc:
            raise BundleError(f"config.json: {exc}") from exc


#: Old names of architecture arguments -> today's: what a bundle's ``config.json`` (or a
#: ``--model-arg``) written before the rename says is read under the new name.
ARG_ALIASES: dict[str, str] = {"frames": "num_frames"}


def canonical_arch_args(args: dict[str, Any]) -> dict[str, Any]:
    """``args`` with every old argument name (:data:`ARG_ALIASES`) replaced by today's."""
    renamed = dict(args)
    for old, new in ARG_ALIASES.items():
        if old in renamed:
            if new in renamed:
                raise BundleError(
                    f"arch args name both {old!r} and {new!r} (the same argument): keep {new!r}"
                )
            renamed[new] = renamed.pop(old)
    return renamed


def _input_from_json(data: dict[str, Any]) -> InputSpec:
    data = dict(data)
    pre = data.pop("preprocess", None)
    if pre is not None:
        pre = Preprocess(**{k: tuple(v) if isinstance(v, list) else v for k, v in pre.items()})
    return InputSpec(preprocess=pre, **data)
