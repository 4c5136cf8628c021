"""Assemble the report: one HTML file with its styles, script, data and images inside.

The page data is a JSON document in ``<script type="application/json" id="memo-data">``,
drawn by the page's own script (``assets/report.js``, vanilla JS, no library, no network).
Thumbnails are ``data:`` URIs in that document.

**When a ``NAME_files/`` folder is written beside the page.** Everything stays in the one
file while the page data (the table of every row plus the thumbnails) is under
``INLINE_LIMIT`` bytes (24 MiB). 50,000 rows of a one-output model take about 3–4 MiB, so
ordinary libraries of up to a few hundred thousand videos stay one file, which is what a
file share or an e-mail wants. Above that a single HTML document becomes slow to open in
anything but a browser (editors, mail clients, previewers) and a browser has to hold the
text of the page and the parsed data at once; the table then goes to ``NAME_files/table.js``
and each thumbnail to ``NAME_files/thumbs/*.jpg``, loaded with ``<script src>`` and
``<img src>`` (which work from ``file://``, unlike ``fetch``). Move the page and the folder
together.
"""

from __future__ import annotations

import base64
import html
import json
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

from memo.fsio import atomic_dir, atomic_write_text

INLINE_LIMIT = 24 * 1024 * 1024
DATA_ID = "memo-data"


def files_dir(output: Path) -> Path:
    """``report.html`` -> ``report_files`` (the name browsers give a saved page's folder)."""
    return output.with_name(output.stem + "_files")


def _asset(name: str) -> str:
    return resources.files("memo.report").joinpath("assets", name).read_text(encoding="utf-8")


def script_json(data: Any) -> str:
    """JSON safe inside a ``<script>`` element (no ``</script>``, no ``<!--``)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def extract_page_data(page: str) -> dict[str, Any]:
    """The page data back from a written report (tests, tools)."""
    start_tag = f'<script type="application/json" id="{DATA_ID}">'
    start = page.index(start_tag) + len(start_tag)
    end = page.index("</script>", start)
    return json.loads(page[start:end])


def write_page(
    output: Path, data: dict[str, Any], thumbs: dict[str, bytes], inline_limit: int = INLINE_LIMIT
) -> Path | None:
    """Write ``output`` (atomically); returns the ``NAME_files`` folder when one was needed."""
    table = data.pop("table")
    table_text = script_json(table)
    thumb_bytes = sum(len(j) * 4 // 3 for j in thumbs.values())
    external = len(table_text.encode("utf-8")) + thumb_bytes > inline_limit
    folder = files_dir(output)
    if external:
        with atomic_dir(folder) as tmp:
            (tmp / "thumbs").mkdir()
            for key, jpeg in thumbs.items():
                (tmp / "thumbs" / f"{key}.jpg").write_bytes(jpeg)
            (tmp / "table.js").write_text(f"window.MEMO_TABLE={table_text};\n", encoding="utf-8")
        data["thumbs"] = {key: f"{folder.name}/thumbs/{key}.jpg" for key in thumbs}
        data["table_src"] = f"{folder.name}/table.js"
    else:
        data["thumbs"] = {
            key: "data:image/jpeg;base64," + base64.b64encode(j).decode("ascii") for key, j in thumbs.items()
        }
        data["table"] = table
        _remove_old_folder(folder)
    atomic_write_text(output, page_html(data))
    data.setdefault("table", table)
    return folder if external else None


def _remove_old_folder(folder: Path) -> None:
    """A folder an earlier, larger report of the same name left (only if it is ours)."""
    if folder.is_dir() and (folder / "table.js").is_file():
        shutil.rmtree(folder, ignore_errors=True)


def page_html(data: dict[str, Any]) -> str:
    title = f"memo report — {Path(data['source']).name}"
    extra = f'<script src="{html.escape(data["table_src"])}"></script>\n' if "table_src" in data else ""
    page = (
        _asset("report.html")
        .replace("{{TITLE}}", html.escape(title))
        .replace("/*{{CSS}}*/", _asset("report.css"))
        .replace("/*{{JS}}*/", _asset("report.js"))
        .replace("{{EXTRA}}", extra)
    )
    return page.replace("{{DATA}}", script_json(data))  # last: the data may hold any text
