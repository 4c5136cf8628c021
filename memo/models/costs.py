"""Parameters and FLOPs per video of a model, measured on the model's own input.

FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode`` over one video's input
(one row for a ``video`` model, ``num_frames`` rows for a ``frame`` model): it counts
2 FLOPs per multiply-accumulate of convolutions, matrix products and attention, and
nothing for element-wise operations, normalisation or pooling. The model is built and
run on PyTorch's ``meta`` device, so nothing is computed and no memory is allocated:
measuring ResNet-152 over 7 frames takes a fraction of a second.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from memo.models.registry import create_model
from memo.models.spec import InputSpec, ModelSpec


@dataclass(frozen=True)
class Cost:
    params: int
    gflops_per_video: float
    rows_per_video: int


def video_input_shape(spec: ModelSpec, item: InputSpec) -> tuple[int, ...]:
    """The shape of one video's input ``item``, batch axis included."""
    if item.stream in ("text", "features"):
        return (1, int(item.dim or 0))
    assert item.preprocess is not None
    height, width = item.preprocess.crop
    if item.stream == "keyframes":
        if spec.unit == "frame":
            return (item.num_frames, 3, height, width)
        return (1, item.num_frames, 3, height, width)
    return (1, 3, item.num_frames, height, width)


def measure_cost(spec: ModelSpec) -> Cost:
    """Parameters and GFLOPs of one video through ``spec``'s architecture (on the meta device)."""
    with torch.device("meta"):
        module = create_model(spec.architecture, **spec.arch_args).eval()
        inputs = {item.name: torch.zeros(video_input_shape(spec, item)) for item in spec.inputs}
    params = sum(p.numel() for p in module.parameters())
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        module(**inputs)
    rows = next(iter(inputs.values())).shape[0]
    return Cost(params, counter.get_total_flops() / 1e9, rows)


def cost_table(configs: list[tuple[str, dict[str, object]]]) -> str:
    """A Markdown table of parameters and GFLOPs per video for ``(architecture, spec kwargs)``."""
    from memo.models.registry import get_entry

    lines = [
        "| model | config | input per video | params (M) | GFLOPs per video |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, kwargs in configs:
        spec = get_entry(name).default_spec(**kwargs)
        cost = measure_cost(spec)
        shape = " + ".join("x".join(map(str, video_input_shape(spec, i))) for i in spec.inputs)
        config = ", ".join(f"{k}={v}" for k, v in kwargs.items()) or "default"
        lines.append(
            f"| {name} | {config} | {shape} | {cost.params / 1e6:.2f} | {cost.gflops_per_video:.2f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":  # python -m memo.models.costs
    print(
        cost_table(
            [
                ("resnet3d", {}),
                ("resnet3d", {"variant": "r2plus1d_18"}),
                ("semantic-embedding", {}),
                ("semantic-embedding", {"attention": False}),
                ("cnn-transformer", {}),
                ("resmem", {}),
            ]
        )
    )
