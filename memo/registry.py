"""One small registry type for every name -> thing table of memo (architectures, runtime
backends, frame decoders, training recipes).

The same rules everywhere: a duplicate name is refused, an unknown name raises
:class:`~memo.errors.UnknownName` listing the known names and the close matches, and an
entry can live in a module imported only when its name is first asked for (``lazy``:
``name -> "module:Class"``, the class instantiated with no arguments), so an optional package
(onnxruntime, TensorRT, DALI) is imported only by the run that uses it. A built-in entry is
declared once, in its registry's table.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Generic, TypeVar

from memo.errors import UnknownName

T = TypeVar("T")


class Registry(Generic[T]):
    """Names -> entries of one ``kind`` (a word used in messages: ``"backend"``, ``"decoder"``...).

    ``lazy`` maps a name to ``"module:Class"``: known (listed, suggested) before the module is
    imported, built on first :meth:`get`. ``also``: names the callers accept besides the
    entries (e.g. ``auto``), listed and suggested in the unknown-name message."""

    def __init__(self, kind: str, lazy: Mapping[str, str] | None = None, also: Sequence[str] = ()) -> None:
        self.kind = kind
        self._lazy = dict(lazy or {})
        self._also = tuple(also)
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        """Register ``entry`` under ``name``; a name registered before is refused (ValueError)."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def remove(self, name: str) -> None:
        """Forget ``name`` (for a test that registers an entry of its own)."""
        self._entries.pop(name, None)

    def names(self) -> list[str]:
        """Every known name: the lazy ones in their declared order, then the others sorted."""
        return list(self._lazy) + sorted(n for n in self._entries if n not in self._lazy)

    def loaded(self, name: str) -> bool:
        """Whether ``name``'s entry exists without importing anything."""
        return name in self._entries

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._lazy

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def get(self, name: str) -> T:
        """The entry of ``name`` (importing its module first when lazy); UnknownName otherwise."""
        if name not in self._entries and name in self._lazy:
            module, _, attr = self._lazy[name].partition(":")
            self.add(name, getattr(importlib.import_module(module), attr)())
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownName(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        known = [*self._also, *self.names()]
        close = difflib.get_close_matches(name, known, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        return f"unknown {self.kind} {name!r} (known: {', '.join(known)}){hint}"
