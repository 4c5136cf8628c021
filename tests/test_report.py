"""`memo report`: the data a page is drawn from, read from every results format, without a browser.

The browser test (tests/test_report_browser.py) needs Chromium; these do not, and they fail
when the page's data is wrong: every number in the page is checked against the rows.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from memo.cli import app
from memo.report import ReportOptions, write_report
from memo.report.data import page_data
from memo.report.load import read_results
from memo.report.render import extract_page_data
from memo.score.writers import open_writer

COLUMNS = ["path", "short_term", "long_term", "contrib_short_term_semantic", "contrib_long_term_semantic",
           "frames", "status", "error", "warning", "model", "model_version", "backend", "seconds", "decoder",
           "frame_times", "frame_short_term", "frame_long_term"]  # fmt: skip


def _rows(count: int = 40, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(count):
        failed = i % 10 == 9
        short, long_ = (None, None) if failed else (float(rng.uniform(0.5, 1)), float(rng.uniform(0.3, 1)))
        error = (
            (f"clips/v{i}.mp4: no such file" if i % 20 == 19 else f"clips/v{i}.mp4: not a video")
            if failed
            else ""
        )
        rows.append({
            "path": f"clips/v{i}.mp4", "short_term": short, "long_term": long_,
            "contrib_short_term_semantic": None if failed else float(rng.normal(0, 0.05)),
            "contrib_long_term_semantic": None if failed else float(rng.normal(0, 0.05)),
            "frames": 0 if failed else 3, "status": "failed" if failed else "ok", "error": error,
            "warning": "only 2 distinct frame(s)" if i == 4 else "", "model": "m", "model_version": "2",
            "backend": "torch", "seconds": 0.25 + i, "decoder": "" if failed else "pyav",
            "frame_times": None if failed else [0.5, 1.5, 2.5],
            "frame_short_term": None if failed else [short - 0.01, short, short + 0.01],
            "frame_long_term": None if failed else [long_, long_, long_],
        })  # fmt: skip
    return rows


def _write(path: Path, rows: list[dict]) -> Path:
    writer = open_writer(path, COLUMNS, resume=False, overwrite=True)
    for row in rows:
        writer.write(row)
    writer.close()
    return path


def test_page_data_matches_the_rows(tmp_path: Path) -> None:
    rows = _rows()
    data = page_data(read_results(_write(tmp_path / "s.csv", rows)), top=5, bins=10)
    ok = [r for r in rows if r["status"] == "ok"]
    assert data["outputs"] == ["short_term", "long_term"]
    assert data["counts"] == {"total": 40, "ok": 36, "failed": 4, "warnings": 1}
    for output in ("short_term", "long_term"):
        values = [r[output] for r in ok]
        assert data["stats"][output]["mean"] == pytest.approx(np.mean(values))
        assert data["stats"][output]["max"] == max(values)
        hist = data["histograms"][output]
        assert sum(hist["counts"]) == 36 and hist["edges"][0] == 0.0 and hist["edges"][-1] == 1.0
        assert hist["counts"] == np.histogram(values, bins=10, range=(0, 1))[0].tolist()
        order = sorted(range(40), key=lambda i: -(rows[i][output] or -1))[:36]
        assert data["gallery"][output]["top"] == order[:5]
        assert data["gallery"][output]["bottom"] == order[-5:][::-1]
    table = data["table"]
    assert [c["name"] for c in table["columns"]][:5] == ["path", "short_term", "long_term", "status", "note"]
    assert table["data"]["path"] == [r["path"] for r in rows]
    assert table["data"]["short_term"] == [r["short_term"] for r in rows]  # full precision, via CSV
    status = table["data"]["status"]
    assert [status["values"][k] for k in status["codes"]] == [r["status"] for r in rows]
    assert (
        table["data"]["note"][4] == "only 2 distinct frame(s)"
        and table["data"]["note"][9] == "clips/v9.mp4: not a video"
    )
    assert data["failures"] == [
        {"reason": "no such file", "count": 2, "paths": ["clips/v19.mp4", "clips/v39.mp4"]},
        {"reason": "not a video", "count": 2, "paths": ["clips/v9.mp4", "clips/v29.mp4"]},
    ]  # as many of each: by reason
    assert data["contributions"] == {
        "short_term": [{"column": "contrib_short_term_semantic", "module": "semantic"}],
        "long_term": [{"column": "contrib_long_term_semantic", "module": "semantic"}],
    }
    assert ["model", "m (version 2)"] in data["settings"] and ["decoder", "pyav"] in data["settings"]


def test_every_format_and_a_folder_of_parquet_parts_read_the_same(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = _rows(30)
    read = {s: read_results(_write(tmp_path / f"s{s}", rows)).rows for s in (".csv", ".jsonl", ".parquet")}
    assert read[".csv"] == read[".jsonl"] == read[".parquet"]
    assert read[".csv"][0]["frame_times"] == [0.5, 1.5, 2.5] and read[".csv"][0]["frames"] == 3
    parts = tmp_path / "parts"
    parts.mkdir()
    for k in range(3):
        pq.write_table(pa.Table.from_pylist(rows[k * 10 : (k + 1) * 10]), parts / f"part-{k:05d}.parquet")
    folder = read_results(parts)
    assert folder.parts == 3 and sorted(r["path"] for r in folder.rows) == sorted(r["path"] for r in rows)
    assert page_data(folder)["counts"] == page_data(read_results(tmp_path / "s.csv"))["counts"]


def test_a_killed_run_is_reported_from_what_it_finished(tmp_path: Path) -> None:
    path = _write(tmp_path / "s.jsonl", _rows(5))
    with open(path, "a", encoding="utf-8") as handle:
        handle.write('{"path": "clips/half.mp4", "short_te')  # cut by a kill
    assert len(read_results(path).rows) == 5


def _ramp_video(path: Path) -> Path:
    """30 frames at 10 fps whose grey level is 8 x the frame number: a tile's brightness says its time."""
    from memo.data.synthetic import write_video

    return write_video(path, "h264", frames=30, fps=10, width=64, height=48,
                       painter=lambda i: np.full((48, 64, 3), 8 * i, np.uint8))  # fmt: skip


def _tiles(page: dict, row: int, uri: str) -> list[float]:
    entry = page["videos"][str(row)]
    image = Image.open(io.BytesIO(__import__("base64").b64decode(uri.split(",", 1)[1]))).convert("L")
    width = image.width // entry["tiles"]
    return [
        float(np.asarray(image)[:, k * width + 4 : (k + 1) * width - 4].mean()) for k in range(entry["tiles"])
    ]


@pytest.mark.parametrize("per_frame", [True, False])
def test_thumbnails_show_the_frames_the_score_used(tmp_path: Path, framecnn_bundle, per_frame: bool) -> None:
    from memo.score import ScoreOptions, score_videos

    videos = tmp_path / "videos"
    videos.mkdir()
    _ramp_video(videos / "ramp.mp4")
    (videos / "broken.mp4").write_bytes(b"not a video")
    out = tmp_path / "scores.csv"
    score_videos(
        ScoreOptions([str(videos)], out, model=str(framecnn_bundle.path), num_frames=3, per_frame=per_frame)
    )
    options = ReportOptions(out, tmp_path / "report.html", top=2, cache=tmp_path / "cache")
    first = write_report(options)
    page = extract_page_data((tmp_path / "report.html").read_text(encoding="utf-8"))
    row = page["table"]["data"]["path"].index(str(videos / "ramp.mp4"))
    entry = page["videos"][str(row)]
    assert entry["tiles"] == 3 and entry["thumb_h"] == 72
    # keyframe times of 3 frames over 3 s: 0.5, 1.5, 2.5 s -> frames 5, 15, 25 -> grey 40, 120, 200
    assert _tiles(page, row, page["thumbs"][entry["thumb"]]) == pytest.approx([40, 120, 200], abs=6)
    assert (entry["times"] == [0.5, 1.5, 2.5]) if per_frame else entry["times"] is None
    assert len(entry["frames"].get("score", [])) == (3 if per_frame else 0)
    assert page["failures"][0]["paths"] == [str(videos / "broken.mp4")]
    assert (first.thumbnails, first.cached) == (1, 0)
    again = write_report(options)  # a second report decodes nothing
    assert (again.thumbnails, again.cached) == (1, 1)
    (videos / "ramp.mp4").unlink()  # a video that no longer opens: a placeholder, not a crash
    gone = write_report(options)
    page = extract_page_data((tmp_path / "report.html").read_text(encoding="utf-8"))
    assert gone.placeholders == 1 and "no such file" in page["videos"][str(row)]["problem"]


def test_the_page_is_one_offline_file_and_large_ones_get_a_files_folder(tmp_path: Path) -> None:
    results = _write(tmp_path / "s.csv", _rows(20))
    (tmp_path / "clips").mkdir()
    for i in range(20):
        (tmp_path / "clips" / f"v{i}.mp4").touch()
    page_path = tmp_path / "out" / "report.html"
    write_report(ReportOptions(results, page_path, thumbnails=False))
    page = page_path.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # no CDN, nothing fetched
    assert "<link" not in page and re.findall(r"<script[^>]*src=", page) == []
    data = extract_page_data(page)
    assert data["link_base"] == "../" and data["table"]["rows"] == 20  # videos are beside the results
    big = write_report(ReportOptions(results, page_path, thumbnails=False, inline_limit=100))
    assert big.files_dir == tmp_path / "out" / "report_files"
    data = extract_page_data(page_path.read_text(encoding="utf-8"))
    assert "table" not in data and data["table_src"] == "report_files/table.js"
    table = (big.files_dir / "table.js").read_text(encoding="utf-8")
    assert json.loads(table.removeprefix("window.MEMO_TABLE=").rstrip(";\n"))["rows"] == 20
    write_report(ReportOptions(results, page_path, thumbnails=False))  # small again: the folder goes
    assert not big.files_dir.exists()


def test_cli_report_and_score_with_report(
    tmp_path: Path, framecnn_bundle, sample_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEMO_HOME", str(tmp_path / "home"))  # the thumbnail cache goes there
    runner = CliRunner()
    results = _write(tmp_path / "s.csv", _rows(10))
    done = runner.invoke(app, ["report", str(results), "-o", str(tmp_path / "r.html"), "--no-thumbnails"])
    assert done.exit_code == 0 and "report:" in done.output and (tmp_path / "r.html").is_file()
    done = runner.invoke(app, ["report", str(tmp_path / "nothing.csv"), "-o", str(tmp_path / "x.html")])
    assert done.exit_code == 2 and "nothing.csv: no such results file or folder" in done.output
    out, page = tmp_path / "scores.csv", tmp_path / "library.html"
    bad = runner.invoke(app, ["score", str(sample_dir), "-m", str(framecnn_bundle.path), "-o", str(out),
                              "--report", str(tmp_path / "library.txt")])  # fmt: skip
    assert bad.exit_code == 2 and "--report" in bad.output and not out.exists()  # refused before any work
    done = runner.invoke(app, ["score", str(sample_dir), "-m", str(framecnn_bundle.path), "-o", str(out),
                               "-q", "--report", str(page)])  # fmt: skip
    assert done.exit_code == 0, done.output
    data = extract_page_data(page.read_text(encoding="utf-8"))
    assert data["counts"]["ok"] == len(list(sample_dir.iterdir()))
    assert all(v["thumb"] for v in data["videos"].values())
    assert len(list((tmp_path / "home" / "cache" / "report-thumbs").glob("*.jpg"))) == len(data["videos"])


def test_sampling_comes_from_the_settings_record_and_long_clips_are_thinned() -> None:
    from memo.report.thumbs import Sampling, sampling_from, thin

    clip = {"settings": {"input clip: stream": "clip", "input clip: frames": 16, "input clip: fps": 8.0}}
    assert sampling_from(clip) == Sampling("clip", 16, 8.0)
    assert sampling_from({"settings": {"input text: stream": "text"}}) is None  # no frames to show
    assert sampling_from(None) == Sampling("keyframes", 7)  # no record: memo's default
    times = [k / 8 for k in range(16)]
    assert thin(times) == [times[i] for i in (0, 2, 4, 6, 9, 11, 13, 15)] and thin(times[:5]) == times[:5]


def test_a_results_file_without_rows_still_makes_a_page(tmp_path: Path) -> None:
    results = _write(tmp_path / "s.csv", [])
    write_report(ReportOptions(results, tmp_path / "r.html"))
    data = extract_page_data((tmp_path / "r.html").read_text(encoding="utf-8"))
    assert data["counts"]["total"] == 0 and data["gallery"]["short_term"] == {"top": [], "bottom": []}
    assert data["histograms"]["short_term"] is None and data["table"]["rows"] == 0


def test_a_damaged_settings_record_does_not_stop_the_report(tmp_path: Path) -> None:
    results = _write(tmp_path / "s.csv", _rows(5))
    (tmp_path / "s.csv.memo.json").write_text("{", encoding="utf-8")
    write_report(ReportOptions(results, tmp_path / "r.html", thumbnails=False))
    data = extract_page_data((tmp_path / "r.html").read_text(encoding="utf-8"))
    assert ["settings record", "not found (NAME.memo.json beside the results)"] in data["settings"]


@pytest.mark.parametrize("outputs", [("score",), ("short_term", "long_term")])
def test_contribution_bars_follow_the_columns_memo_score_explain_writes(outputs: tuple[str, ...]) -> None:
    from types import SimpleNamespace

    from memo.models.m3s import TIERS
    from memo.report.data import contribution_groups
    from memo.score.contrib import contribution_columns

    spec = SimpleNamespace(architecture="m3s", arch_args={"modules": list(TIERS)}, output_names=outputs)
    columns = contribution_columns(SimpleNamespace(spec=spec))
    groups = contribution_groups(list(outputs), columns)
    assert list(groups) == list(outputs)
    for output in outputs:
        assert [g["module"] for g in groups[output]] == list(TIERS)
    assert sorted(g["column"] for o in outputs for g in groups[o]) == sorted(columns)
