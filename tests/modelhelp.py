"""Helpers for the architecture tests: tiny configurations, inputs, ONNX parity, a short fit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from memo.models.bundle import save_bundle
from memo.models.profile import video_inputs
from memo.models.registry import create_model
from memo.models.spec import ModelSpec

TINY_AMNET = {"trunk": "small", "width": 4, "size": 64, "attn_dim": 16, "hidden": 32}


def varied_inputs(spec: ModelSpec, videos: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random inputs whose rows differ in brightness and structure, so scores spread."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for name, zero in video_inputs(spec, videos=videos).items():
        rows = zero.shape[0]
        scale = torch.linspace(0.2, 2.0, rows).view(rows, *[1] * (zero.dim() - 1))
        out[name] = torch.randn(zero.shape, generator=gen) * scale + scale
    return out


def spread_heads(module: nn.Module, names: list[str], seed: int = 0, std: float = 3.0) -> None:
    """Re-draw the named output layers with a large std so outputs differ well above float noise."""
    gen = torch.Generator().manual_seed(seed)
    layers = dict(module.named_modules())
    with torch.no_grad():
        for name in names:
            weight = layers[name].weight
            weight.copy_(torch.randn(weight.shape, generator=gen) * std / weight.shape[1] ** 0.5)


def build(spec: ModelSpec, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return create_model(spec.architecture, **spec.arch_args)


def onnx_parity(spec: ModelSpec, module: nn.Module, folder: Path, rows: int = 6) -> dict[str, float]:
    """Export through memo's exporter, run ORT and PyTorch on one batch; max abs diff and Spearman."""
    import onnx
    import onnxruntime as ort

    from memo.export.onnx_export import torch_to_onnx
    from memo.export.parity import spearman

    bundle = save_bundle(folder / spec.name, spec, module.state_dict())
    path = folder / "model.onnx"
    torch_to_onnx(bundle, path, opset=17)
    graph = onnx.load(str(path))
    assert [o.name for o in graph.graph.output] == list(spec.output_names)  # no attention maps
    ops = {node.op_type for node in graph.graph.node}
    assert not ops & {"Loop", "Scan", "If"}, f"recurrence left as control flow: {ops}"
    reference = bundle.build_module()
    inputs = varied_inputs(spec, rows, seed=1)
    with torch.no_grad():
        want = {k: v.numpy() for k, v in reference(**inputs).items()}
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = dict(
        zip(spec.output_names, session.run(None, {k: v.numpy() for k, v in inputs.items()}), strict=True)
    )
    diff = max(float(np.abs(got[k] - want[k]).max()) for k in spec.output_names)
    rho = spearman(got["score"].tolist(), want["score"].tolist())
    return {"max_abs_diff": diff, "spearman": rho if rho is not None else float("nan")}


def fit_reduces_loss(
    spec: ModelSpec, module: nn.Module, steps: int = 25, lr: float = 3e-3
) -> tuple[float, float]:
    """A few Adam steps on 6 videos with fixed targets: eval-mode MSE of ``score`` before and after."""
    inputs = varied_inputs(spec, 6, seed=2)
    rows = next(iter(inputs.values())).shape[0]
    target = torch.linspace(0.4, 0.95, rows)
    params = [p for p in module.parameters() if p.requires_grad]
    optimiser = torch.optim.Adam(params, lr=lr)

    def eval_loss() -> float:
        module.eval()
        with torch.no_grad():
            return float(((module(**inputs)["score"] - target) ** 2).mean())

    before = eval_loss()
    module.train()
    for _ in range(steps):
        optimiser.zero_grad()
        out = module(**inputs)
        loss = sum(((v - target) ** 2).mean() for v in out.values())
        loss.backward()
        optimiser.step()
    return before, eval_loss()
