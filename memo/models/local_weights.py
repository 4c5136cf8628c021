"""Pretrained trunk weights from a file the user gives (never downloaded, never unpickled).

The file is read by :func:`memo.models.trunks.read_weights_file` (safetensors, or
``torch.load(weights_only=True)``; ``{"state_dict": ...}`` / ``{"model": ...}`` unwrapped).
Here, the usual key prefixes of training wrappers (``module.``, ``backbone.``, ``trunk.``,
``encoder.``, ``model.``) are removed; then every tensor of the target module must be found
with the right shape (the classifier of a full checkpoint, ``fc.*``, is simply left unused).
Unlike :func:`memo.models.trunks.load_trunk_weights`, this loads into any module (the
baselines' trunks are not ``FrozenAware`` wrappers).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from torch import nn

from memo.errors import BundleError
from memo.models.trunks import read_weights_file

_PREFIXES = ("module.", "backbone.", "trunk.", "encoder.", "model.")


@dataclass(frozen=True)
class LoadReport:
    path: str
    loaded: int
    unused: tuple[str, ...]


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
    tensors = {_strip(k): v for k, v in read_weights_file(path).items()}
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
