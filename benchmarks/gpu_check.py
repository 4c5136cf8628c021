"""Check every GPU path of memo against its CPU reference, and time it, in one run.

    PYTHONPATH=/tmp/site:$PWD python3 benchmarks/gpu_check.py --json gpu-check.json

Made for a short window on a machine with one NVIDIA GPU (CUDA 13, Python 3.12, no
internet; the GPU wheels from ``../shared/gpu/pack-wheels``, staged as docs/performance.md
says). One run takes at most ``--budget`` seconds (default 420; checks not started by then
are reported ``unavailable(time budget spent)``) and prints one table at the end, each row
``ok``, ``failed(reason)`` or ``unavailable(reason)``; the same rows go to the JSON file
with the environment. Exit status 1 when a check failed.

Rows (the checks are in ``gpu_checks.py``, tolerances in docs/performance.md):

* preprocessing on CUDA (Pillow's arithmetic in torch) == PIL on the CPU, bit for bit;
* DALI NVDEC frames vs PyAV frames for H.264, HEVC and VP9 (generated, and the real files
  in ../shared/videos when present): mean |difference| <= 3 levels, and the right frame;
* DALI on the GPU: frames handed to torch by DLPack without a copy (same device pointer),
  preprocessed on the device (a CUDA tensor), no device-to-host copy (CUDA profiler);
* scores: DALI GPU vs PyAV, torch CUDA vs torch CPU, ONNX Runtime CUDA vs torch CPU;
* times at batch 64: the model alone vs ``memo score`` end to end on generated videos.

Without CUDA every row is ``unavailable(no CUDA)`` and nothing heavy runs (CI runs it so).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # memo from this checkout

import gpu_checks


@dataclass
class Row:
    check: str
    status: str  # ok | failed(reason) | unavailable(reason)
    value: str = ""  # what was measured
    tolerance: str = ""  # what "ok" needs
    seconds: float = 0.0


def environment() -> dict[str, object]:
    env: dict[str, object] = {"python": platform.python_version(), "machine": platform.machine()}
    try:
        import torch

        env["torch"] = torch.__version__
        env["cuda"] = torch.version.cuda
        env["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
        env["cudnn_tf32"] = bool(torch.backends.cudnn.allow_tf32)
    except ImportError as exc:
        env["torch"] = f"not importable: {exc}"
    for name, module in (("dali", "nvidia.dali"), ("onnxruntime", "onnxruntime"), ("av", "av")):
        try:
            env[name] = __import__(module, fromlist=["__version__"]).__version__
        except ImportError:
            env[name] = None
    try:
        import onnxruntime

        env["ort_providers"] = onnxruntime.get_available_providers()
    except ImportError:
        pass
    return env


def cuda_reason() -> str | None:
    try:
        import torch
    except ImportError:
        return "no torch"
    return None if torch.cuda.is_available() else "no CUDA"


def run_checks(budget: float, workdir: Path, videos: int, device: str) -> list[Row]:
    started = time.monotonic()
    context = gpu_checks.Context(workdir, videos, device)
    rows = []
    for name, check in gpu_checks.CHECKS:
        if time.monotonic() - started > budget:
            rows.append(Row(name, "unavailable(time budget spent)"))
            continue
        begin = time.monotonic()
        try:
            status, value, tolerance = check(context)
        except Exception as exc:  # a check never stops the run: its row says what broke
            status, value, tolerance = f"failed({type(exc).__name__}: {_first_line(exc)})", "", ""
        rows.append(Row(name, status, value, tolerance, round(time.monotonic() - begin, 2)))
        print(f"  {rows[-1].status:<12.60} {name}", flush=True)
    return rows


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else "")[:160]


def render(rows: list[Row]) -> str:
    fields = ("check", "status", "value", "tolerance")
    widths = [max(len(f), *(len(getattr(r, f)) for r in rows)) for f in fields]
    widths = [min(w, 70) for w in widths]
    head = ("check", "status", "value", "tolerance", "s")
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, [*widths, 6], strict=True))]
    for r in rows:
        cells = (r.check, r.status, r.value, r.tolerance, f"{r.seconds:.1f}")
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(cells, [*widths, 6], strict=True)))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, default=Path("gpu-check.json"), help="where to write the rows")
    parser.add_argument("--budget", type=float, default=420.0, help="seconds; later checks are skipped")
    parser.add_argument("--videos", type=int, default=64, help="generated videos for the timed runs")
    parser.add_argument(
        "--rehearse-on-cpu", action="store_true",
        help="run the same code paths on the CPU (no GPU needed; DALI's CPU backend, VP9 only; a tiny CNN)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    started = time.monotonic()
    env = environment()
    reason = None if args.rehearse_on_cpu else cuda_reason()
    if reason:
        rows = [Row(name, f"unavailable({reason})") for name, _ in gpu_checks.CHECKS]
    else:
        with tempfile.TemporaryDirectory(prefix="memo-gpu-check-") as tmp:
            rows = run_checks(args.budget, Path(tmp), args.videos, "cpu" if args.rehearse_on_cpu else "cuda")
    print(render(rows))
    report = {
        "environment": env,
        "seconds": round(time.monotonic() - started, 1),
        "rows": [asdict(r) for r in rows],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"rows written to {args.json}")
    return 1 if any(r.status.startswith("failed") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
