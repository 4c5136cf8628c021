"""A registry of model architectures (timm's idea): name -> builder + default spec."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from memo.errors import BundleError
from memo.models.spec import ModelSpec

Builder = Callable[..., nn.Module]


@dataclass(frozen=True)
class ModelEntry:
    name: str
    builder: Builder
    default_spec: Callable[[], ModelSpec]
    paper: str


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    name: str, *, spec: Callable[[], ModelSpec], paper: str = ""
) -> Callable[[Builder], Builder]:
    """Register ``builder(**arch_args) -> nn.Module`` under ``name``.

    The module's ``forward`` takes the spec's inputs as keyword tensors and returns a
    dict with one tensor per output, shaped ``(rows,)``.
    """

    def decorate(builder: Builder) -> Builder:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        _REGISTRY[name] = ModelEntry(name, builder, spec, paper)
        return builder

    return decorate


def _load_builtin() -> None:
    # Importing the modules registers their models.
    from memo.models import amnet, amnetvid, fusion, m3s, resmem, tiny, vmemnet  # noqa: F401


def get_entry(name: str) -> ModelEntry:
    _load_builtin()
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, _REGISTRY, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(sorted(_REGISTRY))}"
        raise BundleError(f"unknown architecture {name!r}{hint}") from None


def create_model(name: str, **arch_args: Any) -> nn.Module:
    """Build an architecture by name with random/initial weights."""
    return get_entry(name).builder(**arch_args)


def list_models() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)
