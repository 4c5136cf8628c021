"""What ``memo score`` runs without options: the fastest validated path on this machine.

``--backend auto`` (the default) picks ONNX Runtime when the bundle holds a validated
``model.onnx`` and PyTorch otherwise (:mod:`memo.runtime.auto_backend`). For the default
named model the ONNX export does not wait for the user: the first ``auto`` run builds it
once into the bundle in ``$MEMO_HOME`` (the same export and validation as ``memo export
--onnx``, on a few sample videos; atomic: the artifact is only moved in once validated) and
says so once, with the path. A build that fails validation is recorded in the bundle's
``export.json`` and not retried: later runs use PyTorch and say why.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from memo.errors import MemoError
from memo.export.record import read_records, write_record
from memo.formats import DEFAULT_PRECISION, export_command, get_format
from memo.models.bundle import Bundle
from memo.runtime.base import Session, load_session, resolve_device
from memo.runtime.options import LoadOptions
from memo.runtime.threads import default_threads

log = logging.getLogger(__name__)

#: Sample videos the first-use export is validated on (``memo export`` uses 8).
AUTO_EXPORT_SAMPLES = 3
LOCK = ".auto-export.lock"

Notify = Callable[[str], None]


@dataclass(frozen=True)
class Choice:
    """The backend a run uses, the threads and batch size it runs with, and why."""

    backend: str
    device: str
    precision: str
    threads: int | None
    batch_size: int
    reason: str

    def line(self) -> str:
        threads = f"{self.threads} thread{'s' * (self.threads != 1)}" if self.threads else "library threads"
        return (
            f"running {self.backend} ({self.device}, {self.precision}, {threads}, batch {self.batch_size}): "
            f"{self.reason}"
        )

    def to_json(self) -> dict[str, object]:
        return {
            "backend": self.backend,
            "device": self.device,
            "precision": self.precision,
            "threads": self.threads,
            "batch_size": self.batch_size,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class RunRequest:
    """What the user asked for (``backend`` may be ``auto``, ``threads`` ``None``: memo's default)."""

    backend: str
    device: str
    precision: str
    threads: int | None
    batch_size: int


def open_session(
    bundle: Bundle, run: RunRequest, named: bool, notify: Notify | None = None
) -> tuple[Session, Choice]:
    """The session and what was chosen; ``auto`` builds a named model's export on first use."""
    device = resolve_device(run.device)
    why_not = ensure_auto_export(bundle, named, run.precision, notify) if run.backend == "auto" else None
    threads = run.threads or default_threads()
    session = load_session(bundle, run.backend, device, LoadOptions(run.precision, threads))
    chosen = str(getattr(session, "chosen", session.backend))
    reason = str(getattr(session, "reason", f"--backend {run.backend}"))
    if why_not and chosen != "onnx":
        reason += f"; {why_not}"
    device_used = str(getattr(session, "inner", session).device)
    choice = Choice(chosen, device_used, run.precision, threads, run.batch_size, reason)
    (notify or log.info)(choice.line())
    return session, choice


def why_no_auto_export(bundle: Bundle, named: bool, precision: str) -> str | None:
    """``None`` when the first-use ONNX export should be built now, else why not (``named``: the
    model was asked for by name, e.g. ``resmem``, and lives in memo's own cache)."""
    artifact = get_format("onnx").artifact(DEFAULT_PRECISION)
    if not named:  # a user's bundle is exported by its owner; say how
        return f"export it to run faster: {export_command(bundle.path, get_format('onnx'))}"
    if precision != DEFAULT_PRECISION:
        return f"{precision} exports are built by memo export only"
    if bundle.artifact(artifact).is_file():
        return "already exported"
    if f"failed:{artifact}" in read_records(bundle):
        return f"its ONNX export failed validation before (see {bundle.artifact('export.json')})"
    for module in ("onnx", "onnxruntime"):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed (pip install 'memo[onnx]')"
    if not os.access(bundle.path, os.W_OK):
        return f"{bundle.path} is not writable"
    return None


def ensure_auto_export(
    bundle: Bundle, named: bool, precision: str = DEFAULT_PRECISION, notify: Notify | None = None
) -> str | None:
    """Build the default model's validated ONNX export once; ``None`` when it is there, else why not."""
    reason = why_no_auto_export(bundle, named, precision)
    if reason is not None:
        return None if reason == "already exported" else reason
    from memo.export.onnx_export import export_onnx

    with _build_lock(bundle.path) as held:
        if not held:
            return "another memo process is building its ONNX export"
        artifact = get_format("onnx").artifact(DEFAULT_PRECISION)
        if bundle.artifact(artifact).is_file():
            return None  # built by the process that held the lock before us
        message = (
            f"building the ONNX export of {bundle.spec.name} once (validated against PyTorch, about a "
            f"minute) into {bundle.path}"
        )
        (notify or log.info)(message)
        try:
            export_onnx(bundle, sample_count=AUTO_EXPORT_SAMPLES)
        except Exception as exc:  # never stops the run: PyTorch scores it; not retried (export.json)
            log.warning("first-use ONNX export failed: %s", exc)
            if not isinstance(exc, MemoError):  # a validation failure is recorded by the export itself
                with contextlib.suppress(OSError):
                    write_record(bundle, f"failed:{artifact}", {"error": f"{type(exc).__name__}: {exc}"})
            return f"its ONNX export failed ({exc})"
    return None


@contextlib.contextmanager
def _build_lock(folder: Path):  # type: ignore[no-untyped-def]
    """An exclusive lock file naming its process; a lock left by a dead process is taken over."""
    path = folder / LOCK
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if _holder_alive(path):
                yield False
                return
            path.unlink(missing_ok=True)
            continue
        try:
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            yield True
        finally:
            path.unlink(missing_ok=True)
        return
    yield False


def _holder_alive(path: Path) -> bool:
    try:
        pid = int(path.read_text(encoding="ascii").strip() or "0")
    except (OSError, ValueError):
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
