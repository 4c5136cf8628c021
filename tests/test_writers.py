"""Result files: the three formats, resume bookkeeping, the Parquet journal."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest

from memo.errors import OutputError
from memo.score import ScoreOptions, score_videos
from memo.score.writers import ParquetWriter, open_writer, read_results

COLUMNS = ["path", "score", "frames", "status", "error", "warning", "model", "model_version", "seconds"]


def _row(i: int, status: str = "ok") -> dict[str, Any]:
    ok = status == "ok"
    return {
        "path": f'/videos/clip, {i} "quoted" é.mp4',  # a comma, quotes and non-ASCII survive
        "score": 0.5 + i / 100 if ok else None,
        "frames": 7 if ok else 0,
        "status": status,
        "error": "" if ok else f"/videos/clip {i}.mp4: empty file (0 bytes)",
        "warning": "",
        "model": "framecnn",
        "model_version": "1",
        "seconds": 0.25,
    }


def _normalise(row: dict[str, Any]) -> dict[str, Any]:
    """CSV holds text: compare every format through the same lens."""
    out = {}
    for key, value in row.items():
        if value in (None, ""):
            out[key] = None
        elif key in ("score", "seconds"):
            out[key] = round(float(value), 6)
        elif key == "frames":
            out[key] = int(value)
        elif key.startswith("frame_"):
            out[key] = [round(float(v), 6) for v in (value.split() if isinstance(value, str) else value)]
        else:
            out[key] = str(value)
    return out


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_rows_round_trip(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"out{suffix}"
    rows = [_row(0), _row(1, "failed"), _row(2)]
    writer = open_writer(path, COLUMNS, resume=False, overwrite=False)
    for row in rows:
        writer.write(row)
    writer.close()
    back = read_results(path)
    assert [_normalise(r) for r in back] == [_normalise(r) for r in rows]
    assert list(back[0]) == COLUMNS
    if suffix == ".parquet":
        assert not path.with_name(path.name + ".journal.jsonl").exists()


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_existing_output_needs_resume_or_overwrite(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"out{suffix}"
    writer = open_writer(path, COLUMNS, resume=False, overwrite=False)
    writer.write(_row(0))
    writer.close()
    with pytest.raises(OutputError, match=r"already exists; use --resume .* or --overwrite"):
        open_writer(path, COLUMNS, resume=False, overwrite=False)
    with pytest.raises(OutputError, match="contradict"):
        open_writer(path, COLUMNS, resume=True, overwrite=True)
    resumed = open_writer(path, COLUMNS, resume=True, overwrite=False)
    assert list(resumed.done) == [_row(0)["path"]]
    resumed.write(_row(1))
    resumed.close()
    assert [r["path"] for r in read_results(path)] == [_row(0)["path"], _row(1)["path"]]
    fresh = open_writer(path, COLUMNS, resume=False, overwrite=True)
    assert fresh.done == {}
    fresh.write(_row(5))
    fresh.close()
    assert [r["path"] for r in read_results(path)] == [_row(5)["path"]]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_resume_refuses_other_columns(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"out{suffix}"
    writer = open_writer(path, COLUMNS, resume=False, overwrite=False)
    writer.write(_row(0))
    writer.close()
    with pytest.raises(OutputError, match="was written with columns"):
        open_writer(path, [*COLUMNS, "frame_score"], resume=True, overwrite=False)


def test_unknown_output_format_and_directory(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=r"out\.xlsx: unknown output format '\.xlsx'"):
        open_writer(tmp_path / "out.xlsx", COLUMNS, resume=False, overwrite=False)
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(OutputError, match=r"dir\.csv: is a directory"):
        open_writer(tmp_path / "dir.csv", COLUMNS, resume=False, overwrite=True)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_a_row_cut_by_a_kill_is_dropped_on_resume(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"out{suffix}"
    writer = open_writer(path, COLUMNS, resume=False, overwrite=False)
    writer.write(_row(0))
    writer.write(_row(1))
    writer.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 9])  # the last row loses its end
    resumed = open_writer(path, COLUMNS, resume=True, overwrite=False)
    assert list(resumed.done) == [_row(0)["path"]]
    resumed.write(_row(1))
    resumed.close()
    assert [_normalise(r) for r in read_results(path)] == [_normalise(_row(0)), _normalise(_row(1))]


def test_parquet_journal_and_file_together_hold_every_row(tmp_path: Path) -> None:
    """A run killed between two rewrites: the .parquet has the older rows, the journal all of them."""
    path = tmp_path / "out.parquet"
    journal = path.with_name(path.name + ".journal.jsonl")
    writer = ParquetWriter(path, COLUMNS, every_seconds=0.0)  # rewrite after every row
    writer.write(_row(0))
    writer.write(_row(1))
    writer.every_seconds = math.inf  # the next rows only reach the journal
    writer.write(_row(2, "failed"))
    writer.write(_row(3))
    writer._journal.flush()  # what a SIGKILL leaves: no close(), no final rewrite
    assert [r["path"] for r in read_results(path)] == [_row(0)["path"], _row(1)["path"]]
    with open(journal, "a", encoding="utf-8") as handle:
        handle.write('{"path": "/videos/half')  # a row cut by the kill
    resumed = ParquetWriter(path, COLUMNS)
    assert sorted(resumed.done) == sorted(_row(i)["path"] for i in range(4))
    resumed.write(_row(4))
    resumed.close()
    writer._journal.close()
    back = read_results(path)
    assert [_normalise(r) for r in back] == [
        _normalise(_row(i, "failed" if i == 2 else "ok")) for i in range(5)
    ]
    assert not journal.exists()


def test_all_failed_parquet_is_readable(tmp_path: Path) -> None:
    path = tmp_path / "out.parquet"
    writer = open_writer(path, COLUMNS, resume=False, overwrite=False)
    writer.write(_row(0, "failed"))
    writer.close()
    resumed = open_writer(path, COLUMNS, resume=True, overwrite=False)
    resumed.write(_row(1))
    resumed.close()
    back = read_results(path)
    assert [r["status"] for r in back] == ["failed", "ok"]
    assert back[0]["score"] is None and back[1]["score"] == pytest.approx(0.51)


def test_three_formats_from_a_real_run_agree(tmp_path: Path, sample_dir: Path, framecnn_bundle) -> None:
    results = {}
    for suffix in (".csv", ".jsonl", ".parquet"):
        out = tmp_path / f"scores{suffix}"
        options = ScoreOptions(
            inputs=[str(sample_dir)], output=out, model=str(framecnn_bundle.path), per_frame=True, workers=1
        )
        summary = score_videos(options)
        assert summary.scored == summary.total == 6
        rows = read_results(out)
        assert list(rows[0])[-1] == "frame_score"
        results[suffix] = sorted((_normalise(r) for r in rows), key=lambda r: r["path"])
    for row in results[".jsonl"]:
        assert len(row["frame_score"]) == 7
        assert row["score"] == pytest.approx(sum(row["frame_score"]) / 7, abs=1e-5)
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in results[".jsonl"]]
    for suffix in (".csv", ".parquet"):
        assert [{k: v for k, v in r.items() if k != "seconds"} for r in results[suffix]] == strip


def test_output_that_cannot_be_written_is_a_clean_error(tmp_path: Path) -> None:
    blocker = tmp_path / "runs"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(
        OutputError, match=r"runs/out\.csv: cannot write the results \(.*runs is a file, not a folder\)"
    ):
        open_writer(blocker / "out.csv", COLUMNS, resume=False, overwrite=False)


@pytest.mark.parametrize(
    ("suffix", "content", "cause"),
    [
        (".jsonl", '{"path": "a.mp4"}\n{not json\n', "line 2: Expecting property name"),
        (".jsonl", "[1, 2]\n", "line 1: not a result row"),
        (".csv", b"\xff\xfe\x00garbage\n", "not a readable CSV results file"),
        (".parquet", b"PAR1 not really parquet", "not a readable Parquet file"),
    ],
)
def test_resuming_a_damaged_results_file_is_a_clean_error(
    tmp_path: Path, suffix: str, content: str | bytes, cause: str
) -> None:
    path = tmp_path / f"out{suffix}"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(OutputError, match=re.escape(cause)) as err:
        open_writer(path, COLUMNS, resume=True, overwrite=False)
    assert str(err.value).startswith(f"{path}: ") and "\n" not in str(err.value)
