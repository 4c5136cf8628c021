"""The options that name a command's caption / feature tables, and their checks (no torch).

``memo score``, ``bench``, ``explain`` and ``export`` take the same table options
(:mod:`memo.data.streams` opens them); these checks need neither the model nor torch, so a
command runs them before importing either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from memo.errors import InputError

#: The option that gives each side stream, as the commands spell it.
STREAM_OPTIONS: dict[str, str] = {"text": "--text", "features": "--features"}


class TableOptions(Protocol):
    """The table options of a command (``memo export``'s and ``memo bench``'s options carry them)."""

    @property
    def text(self) -> Path | None: ...  # captions CSV
    @property
    def id_column(self) -> str | None: ...  # its id column
    @property
    def text_column(self) -> Sequence[str] | None: ...  # its caption column(s)
    @property
    def features(self) -> Sequence[Path] | None: ...  # <id>.npy folders or matrices, concatenated
    @property
    def feature_rows(self) -> Path | None: ...  # row-order file of a features matrix


@dataclass(frozen=True)
class SideInputs:
    """The table options of a command that has no options object carrying them (score, explain)."""

    text: Path | None = None
    id_column: str | None = None
    text_column: Sequence[str] | None = None
    features: Sequence[Path] | None = None
    feature_rows: Path | None = None


def check_table_options(options: TableOptions) -> None:
    """The options that qualify a table (``--id-column``, ``--text-column``, ``--feature-rows``)
    come with that table."""
    needs = {"id_column": "text", "text_column": "text", "feature_rows": "features"}
    for option, table in needs.items():
        if getattr(options, option) and not getattr(options, table):
            flag, table_flag = "--" + option.replace("_", "-"), STREAM_OPTIONS[table]
            raise InputError(f"{flag} applies to {table_flag}: add {table_flag}")


def check_table_files(options: TableOptions) -> None:
    """Every table file or folder the options name exists (its contents are read when opened)."""
    if options.text is not None and not Path(options.text).is_file():
        raise InputError(f"{options.text}: no such captions file (--text)")
    for path in options.features or ():
        if not Path(path).exists():
            raise InputError(f"{path}: no such features file or directory (--features)")
    if options.feature_rows is not None and not Path(options.feature_rows).is_file():
        raise InputError(f"{options.feature_rows}: no such row-order file (--feature-rows)")
