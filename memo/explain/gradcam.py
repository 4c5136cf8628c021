"""Grad-CAM maps for models that have no attention of their own (ResMem, resnet3d, ...).

Grad-CAM (Selvaraju et al., ICCV 2017): take the feature maps ``A`` of a convolution, the
gradient of the score with respect to them, weight each channel by its gradient averaged
over the map's positions, sum over channels and keep the positive part:
``ReLU(sum_c mean_xy(dS/dA_c) * A_c)``. memo takes ``A`` where the last convolutional stage
ends: the output of the last layer (a convolution, or a block of them) that finishes while
the features still have a spatial extent, i.e. after the last convolution and its residual
shortcut, before global pooling (for ResMem that is ``features.layer4``, the ResNet-152's
last stage, which runs after the AlexNet-style branch; for ``resnet3d`` ``trunk.layer4``,
one map per remaining time step; for a plain stack of convolutions, the last one).
A 2D convolution's output ``(N, C, h, w)`` gives one map per frame (frames are the batch);
a 3D convolution's ``(N, C, t, h, w)`` gives ``t`` maps over time. Each output of the model
(``score``, or ``short_term`` and ``long_term``) gets its own map.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

_CONVS = (nn.Conv2d, nn.Conv3d)


@dataclass
class GradCam:
    layer: str  # the convolution the maps were taken on (module path)
    maps: dict[str, torch.Tensor]  # "gradcam_<output>" -> (videos, T, h, w)


def gradcam(module: nn.Module, inputs: Mapping[str, torch.Tensor]) -> GradCam | None:
    """Grad-CAM of every output of ``module`` on ``inputs``; ``None`` when it runs no convolution."""
    names = {m: n for n, m in module.named_modules() if n and _has_conv(m)}
    last: list[tuple[nn.Module, torch.Tensor]] = []

    def keep(layer: nn.Module, _inputs: object, out: object) -> None:
        if isinstance(out, torch.Tensor) and out.dim() >= 4 and out.shape[-1] * out.shape[-2] > 1:
            last[:] = [(layer, out)]  # the feature map that finished last so far

    hooks = [layer.register_forward_hook(keep) for layer in names]
    try:
        with torch.enable_grad():
            leaves = {k: v.detach().float().requires_grad_(True) if v.is_floating_point() else v
                      for k, v in inputs.items()}  # fmt: skip
            outputs = module(**leaves)
    finally:
        for hook in hooks:
            hook.remove()
    if not last:
        return None
    layer, features = last[0]
    maps = {}
    for name, value in outputs.items():
        (grads,) = torch.autograd.grad(value.sum(), features, retain_graph=True)
        maps[f"gradcam_{name}"] = _cam(features.detach(), grads)
    return GradCam(names[layer], maps)


def _has_conv(layer: nn.Module) -> bool:
    return any(isinstance(m, _CONVS) for m in layer.modules())


def _cam(features: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
    """``(N, C, h, w)`` -> ``(1, N, h, w)``; ``(N, C, t, h, w)`` -> ``(N, t, h, w)``."""
    dims = (-3, -2, -1) if features.dim() == 5 else (-2, -1)  # 3D: the whole (t, h, w) volume
    weights = grads.mean(dim=dims, keepdim=True)
    cam = torch.relu((weights * features).sum(dim=1))
    return cam[None] if features.dim() == 4 else cam
