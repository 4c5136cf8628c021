"""Model bundles: a directory with ``config.json`` + ``weights.safetensors``.

Exported artifacts (``model.onnx``, TensorRT engines) and their metadata live beside
them. Loading never unpickles anything: weights are safetensors, config is JSON.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from memo.errors import BundleError
from memo.fsio import atomic_dir, atomic_write_json
from memo.models.registry import MODELS, check_arch_args, create_model
from memo.models.spec import ModelSpec

CONFIG = "config.json"
WEIGHTS = "weights.safetensors"


@dataclass(frozen=True)
class Bundle:
    path: Path
    spec: ModelSpec

    @property
    def weights_path(self) -> Path:
        return self.path / WEIGHTS

    @property
    def label(self) -> str:
        return f"{self.spec.name}@{self.spec.version}"

    def state_dict(self) -> dict[str, torch.Tensor]:
        if not self.weights_path.is_file():
            raise BundleError(f"{self.path}: missing {WEIGHTS}")
        try:
            return load_file(str(self.weights_path))
        except Exception as exc:  # safetensors raises its own error types
            raise BundleError(f"{self.weights_path}: unreadable safetensors file ({exc})") from exc

    def build_module(self) -> nn.Module:
        """The architecture with the bundle's weights, in eval mode, on the CPU."""
        module = create_model(self.spec.architecture, **self.spec.arch_args)
        try:
            module.load_state_dict(self.state_dict(), strict=True)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0]
            raise BundleError(
                f"{self.weights_path}: weights do not fit {self.spec.architecture!r}: {first}"
            ) from exc
        return module.eval()

    def artifact(self, name: str) -> Path:
        return self.path / name


def read_bundle(path: str | os.PathLike[str]) -> Bundle:
    """Open a bundle directory (no weights are read yet); its ``arch_args`` are checked against
    the architecture's config (an unknown or mistyped argument: one-line BundleError)."""
    root = Path(path)
    config = root / CONFIG
    if not config.is_file():
        raise BundleError(f"{root}: not a model bundle (no {CONFIG})")
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise BundleError(f"{config}: unreadable ({exc})") from exc
    spec = ModelSpec.from_json(data)
    if spec.architecture in MODELS:  # an unknown one is refused when the module is built
        check_arch_args(spec.architecture, spec.arch_args, where=f"{config}: arch_args")
    return Bundle(root, spec)


def save_bundle(path: str | os.PathLike[str], spec: ModelSpec, state_dict: dict[str, torch.Tensor]) -> Bundle:
    """Write a bundle atomically: built in a temporary sibling directory, then swapped in."""
    root = Path(path)
    tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    with atomic_dir(root) as tmp:
        save_file(tensors, str(tmp / WEIGHTS), metadata={"memo_model": spec.name, "version": spec.version})
        atomic_write_json(tmp / CONFIG, spec.to_json())
    return Bundle(root, spec)
