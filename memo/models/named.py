"""Named bundles: pretrained models memo can build offline from installed packages.

``resmem`` is built on first use from the ``resmem`` package's published weights into
``$MEMO_HOME/bundles/resmem-<version>`` (default ``~/.cache/memo``): the package's
``model.pt`` is read with ``torch.load(weights_only=True)`` (tensors only, no code is
unpickled) and rewritten as safetensors.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import logging
from pathlib import Path

from memo.errors import BundleError
from memo.fsio import memo_home
from memo.models.bundle import CONFIG, Bundle, read_bundle, save_bundle
from memo.models.resmem import published_state, published_weights_file, resmem_spec

log = logging.getLogger(__name__)

NAMED = ("resmem",)
# name -> the spec function of the named bundle's architecture (for ``memo models``)
NAMED_SPECS = {"resmem": resmem_spec}
DEFAULT_MODEL = "resmem"


def resolve_model(name_or_path: str) -> Bundle:
    """A bundle directory, or the name of a pretrained bundle (built on first use)."""
    path = Path(name_or_path)
    if (path / CONFIG).is_file():
        return read_bundle(path)
    if name_or_path in NAMED:
        return _resmem_bundle()
    if path.exists():
        raise BundleError(f"{name_or_path}: not a model bundle (no {CONFIG})")
    close = difflib.get_close_matches(name_or_path, NAMED, n=2)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; named models: {', '.join(NAMED)}"
    raise BundleError(f"{name_or_path}: no such bundle directory or named model{hint}")


def _resmem_bundle() -> Bundle:
    source = published_weights_file()
    version = importlib.metadata.version("resmem")
    target = memo_home() / "bundles" / f"resmem-{version}"
    if (target / CONFIG).is_file():
        return read_bundle(target)
    size_mb = source.stat().st_size / 1e6
    log.warning(
        "first use of 'resmem': writing its bundle (%.0f MB) into %s, once (set MEMO_HOME to choose "
        "the folder)", size_mb, target,
    )  # fmt: skip
    return save_bundle(target, resmem_spec().with_(version=version), published_state())


def command_name(bundle: Bundle) -> str:
    """How a user names ``bundle`` on the command line: a named model by its name (not the
    cache folder memo built it in), any other bundle by its path."""
    try:
        named = bundle.path.resolve().is_relative_to((memo_home() / "bundles").resolve())
    except OSError:
        named = False
    return bundle.spec.name if named and bundle.spec.name in NAMED else str(bundle.path)
