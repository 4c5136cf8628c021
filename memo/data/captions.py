"""Caption files as people have them: one reader for the long and the wide shape.

* **long**: one row per caption (``video_id,caption`` and perhaps ``url``), so an id
  with five captions has five rows;
* **wide**: one row per id with several caption columns (``description_0 …
  description_4``, Memento10k's layout), or a single caption column;
* **titles**: VideoMem's ``videoN.webm<TAB>dash-joined-title`` lines, without a header
  (``dev-set_video-captions.txt``, ``test-set_video-captions.txt``), read as the VideoMem
  loader reads them (dashes become spaces).

A file whose first line holds a tab is tab-separated: with a header when its first cell
is an id column name (``video_id<TAB>caption``), else VideoMem's titles.

Both are read the same way: every row adds its caption cells to its id, and every
caption of an id is kept, in file order (never only the first or the last row). Only
the caption columns are read: the ones named (``text_columns``), or, when none are
named, the columns whose names say they hold text (``caption``, ``description_3``,
``text``, ``title``, ``sentence`` …). Any other column (a URL, a score, an annotator
id) is never embedded; the columns left out are listed in :attr:`CaptionFile.ignored`.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

from memo.data.features import video_key
from memo.errors import InputError

ID_COLUMNS = ("path", "id", "video", "video_id", "filename", "file", "name")
_TEXT_NAME = re.compile(r"(captions?|descriptions?|text|titles?|sentences?)([ _-]?\d+)?", re.IGNORECASE)


@dataclass
class CaptionFile:
    """The captions of a file, grouped by id (as written), in file order."""

    source: str
    id_column: str
    text_columns: list[str]
    by_id: dict[str, list[str]] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)  # columns not read as captions
    rows: int = 0
    _keys: dict[str, str] = field(default_factory=dict, repr=False)  # match key -> id

    @property
    def shape(self) -> str:
        """``"long"`` when some id has several rows, else ``"wide"`` (one row per id)."""
        return "long" if self.rows > len(self.by_id) else "wide"

    def ids(self) -> list[str]:
        """Every id once, as written, in file order."""
        return list(self.by_id)

    def several(self) -> int:
        """How many ids have more than one caption."""
        return sum(len(texts) > 1 for texts in self.by_id.values())

    def find(self, name: str) -> str | None:
        """The id of the file that ``name`` (an id, a path, a file name, ``video10.webm``) means."""
        if name in self.by_id:
            return name
        for key in (str(Path(name).resolve()), Path(name).name, Path(name).stem, video_key(name)):
            if key in self._keys:
                return self._keys[key]
        return None

    def captions_of(self, name: str) -> list[str]:
        found = self.find(name)
        return list(self.by_id[found]) if found is not None else []

    def describe(self) -> str:
        """One line for ``--check``: shape, ids, ids with several captions, columns left out."""
        counts = [len(t) for t in self.by_id.values()] or [0]
        line = (
            f"captions: {self.source} ({self.shape}: {self.rows} rows, {len(self.by_id)} ids, "
            f"{self.several()} with several captions, {min(counts)}-{max(counts)} per id; "
            f"read from {', '.join(self.text_columns)})"
        )
        return line + (f"; not read: {', '.join(self.ignored)}" if self.ignored else "")


def _pick(path: Path, header: list[str], wanted: str | None, choices: tuple[str, ...], strict: bool) -> str:
    if wanted in header:
        return wanted
    if wanted and strict:
        raise InputError(f"{path}: no id column {wanted!r} (has: {', '.join(header)})")
    lower = {h.lower(): h for h in header}
    for choice in choices:
        if choice in lower:
            return lower[choice]
    raise InputError(f"{path}: no id column ({', '.join(choices)}); has: {', '.join(header)}")


def _text_columns(path: Path, header: list[str], id_column: str, named: list[str] | None) -> list[str]:
    if named:
        missing = [c for c in named if c not in header]
        if missing:
            raise InputError(f"{path}: no caption column(s) {', '.join(missing)} (has: {', '.join(header)})")
        return list(named)
    found = [h for h in header if h != id_column and _TEXT_NAME.fullmatch(h.strip())]
    if not found:
        raise InputError(
            f"{path}: no caption column (caption, description_N, text, title ...) and none named; "
            f"has: {', '.join(header)}"
        )
    return found


def read_captions(
    path: str | Path,
    id_column: str | None = None,
    text_columns: list[str] | None = None,
    strict_id: bool = True,
) -> CaptionFile:
    """Read a long or wide caption CSV (see the module docstring); errors name the file.

    ``strict_id=False`` falls back to the usual id column names when the file has no
    ``id_column`` (a captions file joined to a labels file whose id column is named otherwise).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such captions file")
    delimiter = _delimiter(path)
    if delimiter == TITLES:
        return _titles_file(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, delimiter=delimiter)
            header = [h.strip() for h in next(reader, [])]
            if not header:
                raise InputError(f"{path}: empty captions file (no header)")
            key = _pick(path, header, id_column, ID_COLUMNS, strict_id)
            columns = _text_columns(path, header, key, text_columns)
            table = CaptionFile(
                str(path), key, columns, ignored=[h for h in header if h not in (key, *columns)]
            )
            where = [header.index(c) for c in columns]
            at = header.index(key)
            for row in reader:
                _add_row(table, row, at, where)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: unreadable captions file ({exc})") from exc
    return table


def _add_row(table: CaptionFile, row: list[str], at: int, where: list[int]) -> None:
    name = row[at].strip() if len(row) > at else ""
    if not name:
        return
    table.rows += 1
    texts = table.by_id.setdefault(name, [])
    texts.extend(cell for i in where if i < len(row) and (cell := row[i].strip()))
    for key in (name, Path(name).name, Path(name).stem, video_key(name)):
        table._keys.setdefault(key, name)


TITLES = "titles"  # VideoMem's headerless videoN.webm<TAB>title lines


def _delimiter(path: Path) -> str:
    """``","``, ``"\t"`` (a TSV with a header) or :data:`TITLES`, from the first line."""
    try:
        with path.open(encoding="utf-8-sig") as handle:
            first = handle.readline()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: unreadable captions file ({exc})") from exc
    if "\t" not in first:
        return ","
    return "\t" if first.split("\t", 1)[0].strip().lower() in ID_COLUMNS else TITLES


def read_title_lines(path: Path) -> list[tuple[str, str]]:
    """``videoN.webm<TAB>dash-joined-title`` lines -> ``[(name, title with spaces)]``, in file order."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: unreadable titles file ({exc})") from exc
    out: list[tuple[str, str]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        name, sep, title = line.partition("\t")
        if not sep:
            raise InputError(f"{path}:{number}: expected 'videoN.webm<TAB>title', got {line[:60]!r}")
        out.append((name.strip(), " ".join(title.replace("-", " ").split())))
    return out


def _titles_file(path: Path) -> CaptionFile:
    table = CaptionFile(str(path), "video", ["title"])
    for name, title in read_title_lines(path):
        _add_row(table, [name, title], 0, [1])
    return table
