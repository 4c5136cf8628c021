"""An architecture's arguments, declared once: a typed, frozen dataclass per model.

Each model module declares one :class:`ModelConfig` subclass whose fields are all of its
user-settable arguments, each with a type, a default and a one-line help (:func:`arg`). The
spec function reads it (``Config.from_args(args)``), the module's constructor takes it, and
the builder the registry calls turns a bundle's ``arch_args`` back into it
(:meth:`ModelConfig.from_arch_args`; :meth:`ModelConfig.module_args` is the check
:func:`memo.models.bundle.read_bundle` runs), so a mistyped ``--model-arg`` or a bad ``config.json`` is
refused with one line naming the argument, and ``memo models NAME`` lists the arguments.

A field is an **architecture** argument (it shapes the module and is stored in the bundle's
``arch_args``) or, with ``input=True``, a **spec-only** one: it shapes the spec's inputs
(frame count of a model that pools over time, fps, crop size) or its training metadata and
is not stored in ``arch_args`` (the bundle keeps it in its ``inputs`` / ``metadata``).
"""

from __future__ import annotations

import copy
import difflib
import functools
import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any, ClassVar, Literal, Self, Union, get_args, get_origin

from memo.errors import BundleError
from memo.models.spec import canonical_arch_args

#: ``arg(REQUIRED, ...)``: an argument without a default (a record such as m3s's derived arch args)
REQUIRED: Any = MISSING


def arg(default: Any, help: str, *, input: bool = False) -> Any:
    """A config field: ``default``, a one-line ``help``; ``input=True``: spec-only (not in ``arch_args``)."""
    meta = {"help": help, "input": input}
    if default is MISSING:
        return field(metadata=meta)
    if isinstance(default, dict | list):
        return field(default_factory=functools.partial(copy.deepcopy, default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Argument:
    """One argument of an architecture, as ``memo models NAME`` and error messages list it."""

    name: str
    type: str
    default: Any
    help: str
    input: bool  # spec-only: shapes the inputs/metadata, not stored in arch_args


@dataclass(frozen=True)
class ModelConfig:
    """Base of the per-model configs (subclass it as a frozen dataclass; fields via :func:`arg`)."""

    #: the architecture name used in messages
    architecture: ClassVar[str] = "model"

    # -- declaration ---------------------------------------------------------------------
    @classmethod
    def arguments(cls) -> list[Argument]:
        """Every argument in declaration order: name, type, default, help, spec-only or not."""
        hints = _hints(cls)
        return [
            Argument(
                f.name,
                type_text(hints[f.name]),
                _default(f),
                f.metadata.get("help", ""),
                bool(f.metadata.get("input")),
            )
            for f in fields(cls)
        ]

    @classmethod
    def names(cls, *, arch_only: bool = False) -> list[str]:
        return [f.name for f in fields(cls) if not (arch_only and f.metadata.get("input"))]

    @classmethod
    def known_text(cls) -> str:
        """``name (type)`` of every argument, for a one-line message."""
        return ", ".join(f"{a.name} ({a.type})" for a in cls.arguments())

    # -- reading -------------------------------------------------------------------------
    @classmethod
    def from_args(cls, args: Mapping[str, Any], where: str = "arguments") -> Self:
        """The config of ``args`` (old names renamed, JSON lists made tuples, types checked);
        an unknown or mistyped argument: :class:`~memo.errors.BundleError`, one line."""
        args = canonical_arch_args(dict(args))
        cls._refuse_unknown(args, cls.names(), where)
        missing = [f.name for f in fields(cls) if _default(f) is MISSING and f.name not in args]
        if missing:
            raise BundleError(f"{where}: {cls.architecture} needs argument {missing[0]!r}")
        hints = _hints(cls)
        values = {name: _typed(value, hints[name], cls._label(where, name)) for name, value in args.items()}
        return cls(**values)

    @classmethod
    def from_arch_args(cls, args: Mapping[str, Any], where: str = "arch_args") -> Self:
        """The config of a bundle's ``arch_args``: architecture arguments only (a spec-only one is refused)."""
        args = canonical_arch_args(dict(args))
        spec_only = sorted(set(args) & (set(cls.names()) - set(cls.names(arch_only=True))))
        if spec_only:
            raise BundleError(
                f"{where}: {spec_only[0]!r} shapes the inputs of {cls.architecture}, "
                f"it is not an architecture argument (those: {', '.join(cls.names(arch_only=True))})"
            )
        return cls.from_args(args, where)

    @classmethod
    def module_args(cls, args: Mapping[str, Any], where: str = "arch_args") -> ModelConfig:
        """What the module is built from, given a bundle's ``arch_args`` (the builder's input):
        the check a bundle's ``arch_args`` pass when it is read. Default: :meth:`from_arch_args`;
        a model whose ``arch_args`` are derived data (m3s) overrides it with the typed record of
        that data."""
        return cls.from_arch_args(args, where)

    @classmethod
    def _refuse_unknown(cls, args: Mapping[str, Any], known: list[str], where: str) -> None:
        for key in args:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=3)
                hint = f"did you mean {', '.join(close)}? " if close else ""
                raise BundleError(
                    f"{where}: {cls.architecture} has no argument {key!r} ({hint}its arguments: {cls.known_text()})"
                )

    @classmethod
    def _label(cls, where: str, name: str) -> str:
        return f"{where}: {cls.architecture} argument {name!r}"

    # -- writing -------------------------------------------------------------------------
    def arch_args(self) -> dict[str, Any]:
        """The architecture arguments as JSON-ready data (tuples as lists): a bundle's ``arch_args``."""
        return {name: to_json(getattr(self, name)) for name in self.names(arch_only=True)}


def to_json(value: Any) -> Any:
    """Tuples as lists, a nested config as its ``arch_args``, recursively (what ``config.json`` holds)."""
    if isinstance(value, ModelConfig):
        return value.arch_args()
    if isinstance(value, tuple | list):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _default(f: Field[Any]) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return MISSING


def type_text(tp: Any) -> str:
    """A readable type: ``int``, ``tuple[int, ...]``, ``str | None``, ``one of 'a', 'b'``."""
    origin = get_origin(tp)
    if tp is type(None):
        return "None"
    if tp is Any:
        return "any"
    if origin in (Union, types.UnionType):
        return " | ".join(type_text(a) for a in get_args(tp))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if isinstance(tp, type) and issubclass(tp, ModelConfig):
        return f"{tp.architecture} arguments (an object)"
    if origin is not None:
        inner = ", ".join("..." if a is Ellipsis else type_text(a) for a in get_args(tp))
        return f"{origin.__name__}[{inner}]" if inner else origin.__name__
    return getattr(tp, "__name__", str(tp))


class _Mismatch(Exception):
    pass


def _typed(value: Any, tp: Any, label: str) -> Any:
    """``value`` checked against ``tp`` (lists made tuples, ints made floats); one-line BundleError."""
    try:
        return _check(value, tp, label)
    except _Mismatch:
        raise BundleError(
            f"{label} must be {type_text(tp)}, got {value!r} ({type(value).__name__})"
        ) from None


def _check(value: Any, tp: Any, label: str) -> Any:
    origin, params = get_origin(tp), get_args(tp)
    if tp is Any:
        return value
    if isinstance(tp, type) and issubclass(tp, ModelConfig):  # a nested model's arguments
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise _Mismatch
        return tp.from_arch_args(value, label)
    if tp is type(None):
        if value is None:
            return None
        raise _Mismatch
    if origin in (Union, types.UnionType):
        for option in params:
            try:
                return _check(value, option, label)
            except _Mismatch:
                continue
        raise _Mismatch
    if origin is Literal:
        if value in params:
            return value
        raise _Mismatch
    if tp in (bool, int, float, str):
        return _scalar(value, tp)
    if origin is tuple or tp is tuple:
        return _sequence(value, params, label)
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise _Mismatch
        key_t, value_t = params or (Any, Any)
        return {_check(k, key_t, label): _check(v, value_t, label) for k, v in value.items()}
    raise TypeError(f"config type {tp!r} is not supported by memo.models.config")


def _scalar(value: Any, tp: type) -> Any:
    if isinstance(value, bool) and tp is not bool:
        raise _Mismatch
    if tp is float and isinstance(value, int | float):
        return float(value)
    if isinstance(value, tp):
        return value
    raise _Mismatch


def _sequence(value: Any, params: tuple[Any, ...], label: str) -> tuple[Any, ...]:
    """A tuple from a JSON list, a tuple or a comma-separated string (``--model-arg modules=low,mid``)."""
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list | tuple):
        raise _Mismatch
    if len(params) == 2 and params[1] is Ellipsis:
        types_ = [params[0]] * len(value)
    elif params:
        if len(params) != len(value):
            raise _Mismatch
        types_ = list(params)
    else:
        types_ = [Any] * len(value)
    return tuple(_element(v, t, label) for v, t in zip(value, types_, strict=True))


def _element(value: Any, tp: Any, label: str) -> Any:
    """A sequence element; a number written in a comma-separated string is read as one."""
    if isinstance(value, str) and tp in (int, float):
        try:
            return tp(value)
        except ValueError:
            raise _Mismatch from None
    return _check(value, tp, label)
