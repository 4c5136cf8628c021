"""A full disk while writing results is one line naming the file, for every format."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from memo.errors import OutputError
from memo.score.writers import open_writer

COLUMNS = ["path", "score", "status"]
ROW = {"path": "a.mp4", "score": 0.5, "status": "ok"}


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_writing_to_a_full_disk_is_a_one_line_error(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"out{suffix}"
    out.symlink_to("/dev/full")  # every write there fails with ENOSPC
    with pytest.raises(OutputError) as err:
        writer = open_writer(out, COLUMNS, resume=True, overwrite=False)
        writer.write(ROW)
    message = str(err.value)
    assert message.startswith(f"{out}: cannot write the results (No space left on device")
    assert "\n" not in message


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_enospc_on_a_row_write_is_a_one_line_error(
    tmp_path: Path, suffix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    out = tmp_path / f"out{suffix}"
    writer = open_writer(out, COLUMNS, resume=False, overwrite=False)
    handle = getattr(writer, "_handle", None) or writer._journal  # type: ignore[attr-defined]

    def full(*_: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(handle, "flush", full)
    with pytest.raises(OutputError, match=r"cannot write the results \(No space left on device\)$"):
        writer.write(ROW)
