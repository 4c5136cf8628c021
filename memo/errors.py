"""Typed exceptions shared across memo's packages.

Every error meant for a user carries a one-line message that names the cause; the
scoring loop turns :class:`InputError` into a failed row and carries on with the batch.
"""

from __future__ import annotations


class MemoError(Exception):
    """Base class of every error memo raises on purpose."""


class InputError(MemoError):
    """A single input (video, caption, feature file) cannot be used."""


class BundleError(MemoError):
    """A model bundle is missing, malformed or inconsistent."""


class BackendUnavailable(MemoError):
    """A runtime backend cannot run here (package missing, no GPU, ...)."""


class UnknownName(InputError, BundleError, BackendUnavailable):
    """A name that is not in one of memo's registries (architecture, backend, decoder, recipe).

    One type for every registry (:class:`memo.registry.Registry`); it is also each of the
    errors callers caught before the registries shared it."""


class OutputError(MemoError):
    """The output file cannot be written or resumed."""


class MissingDependency(MemoError):
    """An optional dependency is not installed; the message says how to install it."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        super().__init__(f"{purpose} needs the '{package}' package: pip install 'memo[{extra}]'")
        self.package = package
        self.extra = extra
