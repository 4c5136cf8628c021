"""Pretrained trunk weights from a file the user gives (never downloaded, never unpickled).

A ``.safetensors`` file is read with safetensors; anything else with
``torch.load(weights_only=True)`` (tensors and plain containers only, no code). The usual
wrappers (``{"state_dict": ...}``, ``{"model": ...}``) and key prefixes (``module.``,
``backbone.``, ``trunk.``, ``encoder.``) are removed; then every tensor of the target module
must be found with the right shape (the classifier of a full checkpoint, ``fc.*``, is
simply left unused).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from memo.errors import BundleError

_WRAPPERS = ("state_dict", "model", "model_state", "weights")
_PREFIXES = ("module.", "backbone.", "trunk.", "encoder.", "model.")


@dataclass(frozen=True)
class LoadReport:
    path: str
    loaded: int
    unused: tuple[str, ...]


def read_tensors(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The tensors of a weights file, as a flat name -> tensor dict."""
    file = Path(path)
    if not file.is_file():
        raise BundleError(f"{file}: no such weights file")
    try:
        if file.suffix == ".safetensors":
            from safetensors.torch import load_file

            data: object = load_file(str(file))
        else:
            data = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # unreadable, or pickled objects other than tensors
        raise BundleError(f"{file}: cannot read weights ({' '.join(str(exc).split())[:200]})") from exc
    for key in _WRAPPERS:
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise BundleError(f"{file}: not a state dict of tensors")
    return dict(data)


def _strip(name: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in _PREFIXES:
            if name.startswith(prefix):
                name, changed = name[len(prefix) :], True
    return name


def load_into(module: nn.Module, path: str | os.PathLike[str]) -> LoadReport:
    """Copy the file's tensors into ``module`` (all of its tensors must be there, shapes equal)."""
    tensors = {_strip(k): v for k, v in read_tensors(path).items()}
    target = module.state_dict()
    missing = [k for k in target if k not in tensors]
    if missing:
        raise BundleError(
            f"{path}: {len(missing)} of the trunk's {len(target)} tensors are missing (first: {missing[0]!r})"
        )
    for key, value in target.items():
        if tuple(tensors[key].shape) != tuple(value.shape):
            shapes = f"{tuple(tensors[key].shape)} in the file, {tuple(value.shape)} in the model"
            raise BundleError(f"{path}: tensor {key!r} has shape {shapes}")
    module.load_state_dict({k: tensors[k] for k in target}, strict=True)
    unused = tuple(sorted(set(tensors) - set(target)))
    return LoadReport(str(path), len(target), unused)
