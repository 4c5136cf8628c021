"""Labelled memorability datasets: VideoMem (ME2018), Memento10k and generic CSV files.

Every loader returns a :class:`LabelledSet`: ids, targets in [0, 1], captions (a list per
item), optional video paths and precomputed features. See ``docs/datasets.md`` for the
files each loader expects.

* VideoMem: Cohendet et al., "VideoMem: Constructing, Analyzing, Predicting Short-term
  and Long-term Video Memorability", ICCV 2019 (MediaEval 2018 development set).
* Memento10k: Newman et al., "Multimodal Memorability: Modeling Effects of Semantics and
  Decay on Video Memorability", ECCV 2020.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from memo.data.captions import CaptionFile, read_captions, read_title_lines
from memo.data.discover import DEFAULT_EXTENSIONS
from memo.data.features import FeatureSource, FeatureTable, feature_paths, open_features, video_key
from memo.errors import InputError

log = logging.getLogger(__name__)

# A labelled id without an extension is looked up with every extension ``memo score`` discovers.
VIDEO_EXTENSIONS = tuple(f".{ext}" for ext in DEFAULT_EXTENSIONS)


@dataclass
class LabelledSet:
    name: str
    ids: list[str]
    targets: dict[str, np.ndarray]  # name -> (N,) float
    captions: list[list[str]] | None = None
    videos: list[str | None] | None = None
    features: np.ndarray | None = None  # (N, D) float32
    feature_source: str | None = None
    counts: dict[str, np.ndarray] = field(default_factory=dict)  # annotations per item
    source: str = ""
    caption_file: CaptionFile | None = None  # where the captions came from (for --check)
    unmatched_captions: list[str] = field(default_factory=list)  # caption ids with no labelled item

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, index: np.ndarray | list[int]) -> LabelledSet:
        index = np.asarray(index, dtype=np.int64)
        return LabelledSet(
            name=self.name,
            ids=[self.ids[i] for i in index],
            targets={k: v[index] for k, v in self.targets.items()},
            captions=[self.captions[i] for i in index] if self.captions is not None else None,
            videos=[self.videos[i] for i in index] if self.videos is not None else None,
            features=self.features[index] if self.features is not None else None,
            feature_source=self.feature_source,
            counts={k: v[index] for k, v in self.counts.items()},
            source=self.source,
            caption_file=self.caption_file,
        )


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            header = [h.strip() for h in (reader.fieldnames or [])]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: unreadable CSV ({exc})") from exc
    rows = [{(k or "").strip(): (v or "").strip() for k, v in r.items()} for r in rows]
    if not header:
        raise InputError(f"{path}: empty CSV (no header)")
    return header, rows


def _need(path: Path, header: list[str], columns: list[str]) -> None:
    missing = [c for c in columns if c not in header]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)} (has: {', '.join(header)})")


def _float(path: Path, line: int, column: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise InputError(f"{path}:{line}: column {column!r} is not a number: {value!r}") from None


def _find_video(folder: Path | None, names: list[str]) -> str | None:
    if folder is None:
        return None
    for name in names:
        candidate = folder / name
        if candidate.is_file():
            return str(candidate)
        for ext in VIDEO_EXTENSIONS:
            with_ext = folder / f"{name}{ext}"
            if with_ext.is_file():
                return str(with_ext)
    return None


def _attach_captions(data: LabelledSet, file: CaptionFile) -> None:
    """Every caption of each labelled item (all rows of its id), and the caption ids left over."""
    found = [file.find(i) for i in data.ids]
    data.captions = [list(file.by_id[f]) if f is not None else [] for f in found]
    data.caption_file = file
    used = set(found)
    data.unmatched_captions = [i for i in file.ids() if i not in used]


def _attach_features(data: LabelledSet, table: FeatureTable) -> None:
    missing = [i for i in data.ids if i not in table]
    if missing:
        raise InputError(
            f"{table.source}: no features for {len(missing)} of {len(data)} videos (first: {missing[0]})"
        )
    data.features = table.rows(data.ids)
    data.feature_source = table.source


# ---------------------------------------------------------------- VideoMem ME2018


def load_videomem(
    root: str | Path,
    features: FeatureSource | None = None,
    feature_rows: str | Path | None = None,
    videos: str | Path | None = None,
) -> LabelledSet:
    """VideoMem / MediaEval 2018 development set.

    ``root`` holds ``ground-truth_dev-set.csv`` and ``dev-set_video-captions.txt``.
    ``features`` is a PSBD matrix (``coco80_rn152.bin``; a bare name is looked up in
    ``root``) or a directory of ``videoN.npy``, or a list of them (concatenated); ``videos``
    a folder of ``videoN.webm``.
    Row order follows the ground-truth CSV, which the VMemNet fold file indexes.
    """
    root = Path(root)
    truth = root / "ground-truth_dev-set.csv"
    header, rows = _read_csv(truth)
    columns = ["video", "short-term_memorability", "long-term_memorability"]
    _need(truth, header, columns)
    ids = [r["video"] for r in rows]
    targets = {
        "short_term": np.array([_float(truth, i + 2, columns[1], r[columns[1]]) for i, r in enumerate(rows)]),
        "long_term": np.array([_float(truth, i + 2, columns[2], r[columns[2]]) for i, r in enumerate(rows)]),
    }
    counts = {}
    for name, column in (
        ("short_term", "nb_short-term_annotations"),
        ("long_term", "nb_long-term_annotations"),
    ):
        if column in header:
            counts[name] = np.array([_float(truth, i + 2, column, r[column]) for i, r in enumerate(rows)])
    data = LabelledSet("videomem", ids, targets, counts=counts, source=str(root))
    titles = root / "dev-set_video-captions.txt"
    if titles.is_file():
        by_key = read_titles(titles)
        data.captions = [[by_key.get(video_key(i), "")] for i in ids]
    else:
        log.warning("%s: no titles file; the text stream is unavailable", titles)
    if features is not None:
        sources = [root / f if not f.exists() and (root / f).exists() else f for f in feature_paths(features)]
        _attach_features(data, open_features(sources, feature_rows))
    if videos is not None:
        data.videos = [_find_video(Path(videos), [i, Path(i).stem]) for i in ids]
    return data


def read_titles(path: Path) -> dict[str, str]:
    """``videoN.webm<TAB>dash-joined-title`` lines -> {video key: title with spaces}."""
    return {video_key(name): title for name, title in read_title_lines(path)}


# ---------------------------------------------------------------- Memento10k


def load_memento(root: str | Path, split: str = "train", videos: str | Path | None = None) -> LabelledSet:
    """Memento10k: ``<split>_scores.csv`` (+ ``<split>_text_descriptions.csv``) in ``root``.

    Targets: ``short_term`` = ``scores_normalized_short_term`` (the benchmark's target)
    and ``decay_alpha`` (the per-video memory decay of Newman et al.). Videos are looked up
    in ``videos`` by id or by the basename of ``video_url``.
    """
    root = Path(root)
    scores = root / f"{split}_scores.csv"
    header, rows = _read_csv(scores)
    _need(scores, header, ["video_id", "scores_normalized_short_term"])
    ids = [r["video_id"] for r in rows]
    targets = {
        "short_term": np.array(
            [
                _float(scores, i + 2, "scores_normalized_short_term", r["scores_normalized_short_term"])
                for i, r in enumerate(rows)
            ]
        )
    }
    if "decay_alpha" in header:
        targets["decay_alpha"] = np.array(
            [_float(scores, i + 2, "decay_alpha", r["decay_alpha"]) for i, r in enumerate(rows)]
        )
    counts = {}
    if "annotations_short_term" in header:
        counts["short_term"] = np.array(
            [
                _float(scores, i + 2, "annotations_short_term", r["annotations_short_term"])
                for i, r in enumerate(rows)
            ]
        )
    data = LabelledSet("memento10k", ids, targets, counts=counts, source=str(root))
    texts = root / f"{split}_text_descriptions.csv"
    if texts.is_file():  # wide (description_0..4) or long (one row per caption): all are kept
        _attach_captions(data, read_captions(texts, "video_id"))
    if videos is not None:
        folder = Path(videos)
        urls = [r.get("video_url", "") for r in rows]
        data.videos = [
            _find_video(folder, [i, Path(u).name, Path(u).stem] if u else [i])
            for i, u in zip(ids, urls, strict=True)
        ]
    return data


# ---------------------------------------------------------------- generic CSV


def load_csv(
    path: str | Path,
    targets: list[str],
    id_column: str = "path",
    text_columns: list[str] | None = None,
    videos: str | Path | None = None,
    features: FeatureSource | None = None,
    feature_rows: str | Path | None = None,
    captions: str | Path | None = None,
) -> LabelledSet:
    """A CSV with an id/path column, one or more target columns and optional caption columns.

    Captions come from ``text_columns`` of the CSV itself or, with ``captions``, from a
    separate caption file (long or wide, see :mod:`memo.data.captions`) joined by id; there
    ``text_columns`` name its caption columns and its id column is ``id_column`` or a usual
    id name. Relative video paths resolve against ``videos`` (default: the CSV's folder).
    """
    path = Path(path)
    header, rows = _read_csv(path)
    if not targets:
        raise InputError(f"{path}: give at least one target column (--target)")
    _need(path, header, [id_column, *targets, *([] if captions else text_columns or [])])
    ids = [r[id_column] for r in rows]
    data = LabelledSet(
        path.stem,
        ids,
        {t: np.array([_float(path, i + 2, t, r[t]) for i, r in enumerate(rows)]) for t in targets},
        source=str(path),
    )
    if captions is not None:
        _attach_captions(data, read_captions(captions, id_column, text_columns or None, strict_id=False))
    elif text_columns:
        data.captions = [[r[c] for c in text_columns if r[c]] for r in rows]
    base = Path(videos) if videos is not None else path.parent
    found = [_find_video(base, [i]) for i in ids]
    if videos is not None or any(found):
        data.videos = found
    if features is not None:
        _attach_features(data, open_features(features, feature_rows))
    return data


# ---------------------------------------------------------------- checks


@dataclass
class CheckReport:
    items: int
    problems: list[str]  # fatal
    notes: list[str]  # informative

    @property
    def ok(self) -> bool:
        return not self.problems


def check_dataset(data: LabelledSet, targets: list[str], streams: list[str]) -> CheckReport:
    """What would make training fail or mislead: reported before any training starts."""
    problems: list[str] = []
    notes: list[str] = [f"{len(data)} labelled items from {data.source}"]
    from collections import Counter

    dups = sorted(i for i, n in Counter(data.ids).items() if n > 1)
    if dups:
        problems.append(f"{len(dups)} duplicate id(s), e.g. {', '.join(dups[:3])}")
    for name in targets:
        if name not in data.targets:
            problems.append(f"no target {name!r} (has: {', '.join(data.targets)})")
            continue
        values = data.targets[name]
        if name == "decay_alpha":  # a decay slope, not a score: any finite value
            bad = np.flatnonzero(~np.isfinite(values))
            if bad.size:
                problems.append(f"{bad.size} decay_alpha value(s) are not numbers, e.g. {data.ids[bad[0]]}")
            continue
        bad = np.flatnonzero(~np.isfinite(values) | (values < 0) | (values > 1))
        if bad.size:
            problems.append(
                f"{bad.size} {name} score(s) outside [0, 1], e.g. {data.ids[bad[0]]} = {values[bad[0]]:g}"
            )
        else:
            notes.append(f"{name}: mean {values.mean():.3f}, std {values.std():.3f}")
    if "text" in streams:
        if data.captions is None:
            problems.append("the text input needs captions/titles and this dataset has none")
        else:
            empty = [data.ids[i] for i, caps in enumerate(data.captions) if not any(c.strip() for c in caps)]
            if empty:
                problems.append(f"{len(empty)} item(s) with empty captions, e.g. {', '.join(empty[:3])}")
            per = [len(c) for c in data.captions]
            notes.append(f"captions per item: {min(per)}-{max(per)}")
    notes += _caption_notes(data)
    if "features" in streams:
        if data.features is None:
            problems.append("the features input needs precomputed features (--features)")
        else:
            notes.append(f"features: {data.features.shape[1]} values per item from {data.feature_source}")
    if "keyframes" in streams or "video" in streams:
        if data.videos is None:
            problems.append("the keyframes input needs video files (--videos)")
        else:
            missing = [data.ids[i] for i, v in enumerate(data.videos) if v is None]
            if missing:
                problems.append(
                    f"{len(missing)} of {len(data)} video files missing, e.g. {', '.join(missing[:3])}"
                )
    return CheckReport(len(data), problems, notes)


def _caption_notes(data: LabelledSet) -> list[str]:
    """Where the captions came from, how many ids have several, and the ids nothing matched."""
    if data.caption_file is None:
        return []
    notes = [data.caption_file.describe()]
    without = sum(not caps for caps in data.captions or [])
    if without:
        notes.append(
            f"{without} of {len(data)} labelled item(s) have no caption in {data.caption_file.source}"
        )
    if data.unmatched_captions:
        shown = ", ".join(data.unmatched_captions[:3])
        notes.append(f"{len(data.unmatched_captions)} caption id(s) match no labelled item, e.g. {shown}")
    return notes
