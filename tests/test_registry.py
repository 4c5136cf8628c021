"""One registry type (memo/registry.py) behind architectures, backends, decoders and recipes:
the same error type and message shape, close matches suggested, duplicate names refused,
built-in entries declared once."""

from __future__ import annotations

import importlib

import pytest

from memo.data.decoders import get_decoder, register_decoder
from memo.errors import BackendUnavailable, BundleError, InputError, UnknownName
from memo.models.config import ModelConfig
from memo.models.registry import get_entry, register_model
from memo.registry import Registry
from memo.runtime.base import BACKENDS, get_backend, register_backend
from memo.trainer.recipe_api import RECIPES


@pytest.mark.parametrize(
    ("lookup", "typo", "suggestion"),
    [(get_entry, "resmen", "resmem"), (get_backend, "onxx", "onnx"), (get_decoder, "pyv", "pyav"),
     (RECIPES.get, "vidoe", "video")],
)  # fmt: skip
def test_every_registry_raises_one_error_type_with_close_matches(lookup, typo: str, suggestion: str) -> None:
    with pytest.raises(UnknownName, match=rf"unknown \w+ '{typo}' \(known: .*\); did you mean {suggestion}"):
        lookup(typo)


def test_the_one_error_type_is_each_error_callers_caught_before() -> None:
    for error in (InputError, BundleError, BackendUnavailable):
        with pytest.raises(error):
            get_backend("no-such-backend")


def test_duplicate_names_are_refused_in_every_registry() -> None:
    with pytest.raises(ValueError, match="architecture 'framecnn' is already registered"):
        register_model("framecnn", spec=lambda: None, config=ModelConfig)(lambda: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="backend 'onnx' is already registered"):
        register_backend("onnx")(object)
    with pytest.raises(ValueError, match="decoder 'dali' is already registered"):
        register_decoder("dali")(object)
    registry: Registry[int] = Registry("thing")
    registry.add("a", 1)
    with pytest.raises(ValueError, match="thing 'a' is already registered"):
        registry.add("a", 2)


def test_a_built_in_backend_is_declared_once_and_built_on_first_use() -> None:
    module = importlib.import_module("memo.runtime.torch_backend")  # importing registers nothing
    assert get_backend("torch") is get_backend("torch")
    assert isinstance(get_backend("torch"), module.TorchBackend)
    assert BACKENDS.names()[:3] == ["torch", "onnx", "trt"]
