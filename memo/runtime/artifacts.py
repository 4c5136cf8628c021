"""Where a backend's artifact lives in a bundle (from :mod:`memo.formats`), and its identity (sha256)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from memo.errors import BundleError
from memo.formats import DEFAULT_PRECISION, export_command, format_for_backend
from memo.models.bundle import Bundle
from memo.models.named import command_name


def artifact_file(bundle: Bundle, backend: str, precision: str = DEFAULT_PRECISION) -> Path:
    """The file ``backend`` runs for ``bundle``: the format table's artifact, or the weights."""
    fmt = format_for_backend(backend)
    if fmt is None:
        return bundle.weights_path
    return bundle.artifact(fmt.artifact(precision))


def missing_artifact(bundle: Bundle, backend: str, precision: str = DEFAULT_PRECISION) -> str | None:
    """``None`` when the artifact ``backend`` needs is in the bundle, else what is missing and the fix."""
    fmt = format_for_backend(backend)
    if fmt is None:
        return None
    if not fmt.has(precision):
        return f"format {fmt.name!r} has no {precision} build ({', '.join(fmt.precisions)})"
    path = bundle.artifact(fmt.artifact(precision))
    if path.is_file():
        return None
    return f"no {path.name}; export it first: {export_command(command_name(bundle), fmt, precision)}"


def require_artifact(bundle: Bundle, backend: str, precision: str = DEFAULT_PRECISION) -> Path:
    """The artifact's path, or a :class:`BundleError` that names the export command."""
    problem = missing_artifact(bundle, backend, precision)
    if problem:
        raise BundleError(f"{command_name(bundle)}: {problem}")
    return artifact_file(bundle, backend, precision)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def artifact_sha256(path: Path) -> str:
    """sha256 of an artifact together with its external-data file (``<name>.data``) if it has one."""
    digest = hashlib.sha256()
    for part in (path, path.with_name(f"{path.name}.data")):
        if part.is_file():
            digest.update(sha256_file(part).encode())
    return digest.hexdigest()
