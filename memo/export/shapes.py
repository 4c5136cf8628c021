"""Tensor shapes a bundle's model takes, and the batch profile (MIN:OPT:MAX) of an export."""

from __future__ import annotations

from memo.models.spec import InputSpec, ModelSpec


def input_shape(spec: ModelSpec, item: InputSpec) -> tuple[int, ...]:
    """The shape of one batch row of ``item`` (the batch axis excluded)."""
    if item.stream in ("text", "features"):
        return (int(item.dim or 0),)
    if item.stream == "lowlevel":
        return (item.num_frames, int(item.dim or 0))
    assert item.preprocess is not None
    height, width = item.preprocess.crop
    if item.stream == "keyframes":
        return (3, height, width) if spec.unit == "frame" else (item.num_frames, 3, height, width)
    return (3, item.num_frames, height, width)  # clip: (C, T, H, W)


def input_shapes(spec: ModelSpec) -> dict[str, tuple[int, ...]]:
    return {item.name: input_shape(spec, item) for item in spec.inputs}


def fixed_frames(spec: ModelSpec) -> dict[str, int]:
    """The inputs whose frame count is an axis of an exported graph, with that count.

    An exported graph keeps only the batch axis dynamic, so a model that reads several frames
    per row (a video model's keyframes, a clip, low-level frames) is fixed at the spec's
    ``num_frames`` — and a recurrent one (AMNetVid's ConvLSTM) is unrolled for exactly that
    many steps. ``export.json`` records these; ``memo score --frames`` is checked against them.
    """
    framed = ("clip", "lowlevel") if spec.unit == "frame" else ("clip", "lowlevel", "keyframes")
    return {item.name: item.num_frames for item in spec.inputs if item.stream in framed}
