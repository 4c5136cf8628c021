"""Which int8 quantisation of ResMem keeps parity: one calibration, several exclusion variants.

Calibrates ResMem's fp32 ``model.onnx`` (MinMax, ranges cached in ``--work``) on 16 frames of
each calibration video and validates each variant against PyTorch fp32 on the other videos
(7 keyframes each, as ``memo score``): per-video Spearman and max abs diff, frame-level too.
``--time`` also times int8 vs fp32 ONNX Runtime at batch 16. Figures: docs/performance.md.

    MEMO_HOME=... python benchmarks/int8_variants.py --work /tmp/int8 first noadd noadd_l4
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx

from memo.data.inputs import prepare_video
from memo.export import int8_quant
from memo.export.parity import spearman
from memo.models.named import resolve_model
from memo.runtime.base import load_session
from memo.runtime.onnx_backend import open_onnx_session

VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "videos"
CALIBRATION = ["bigbuckbunny_hevc.mkv", "bikes_vp9.webm", "carphone_distorted.mp4"]
VALIDATION = ["bikes_portrait.mov", "bikes.mp4", "carphone_pristine.mp4", "bigbuckbunny_vp8_1080p.webm",
              "bigbuckbunny.mp4"]  # fmt: skip


def variants(model: onnx.ModelProto) -> dict[str, dict]:
    first = int8_quant.excluded_nodes(model, "none")  # the convolutions reading the pixels
    branch = [n.name for n in model.graph.node if n.op_type == "Conv" and "/features/" not in n.name]
    layer4 = [n.name for n in model.graph.node if "/layer4/" in n.name and n.op_type in ("Conv", "Add")]
    both = sorted(set(first + branch))
    return {
        "first": {"exclude": first, "ops": ("Conv", "Add")},
        "branch": {"exclude": both, "ops": ("Conv", "Add")},
        "branch_l4": {"exclude": both + layer4, "ops": ("Conv", "Add")},
        "noadd": {"exclude": both, "ops": ("Conv",)},
        "noadd_l4": {"exclude": both + layer4, "ops": ("Conv",)},
        "memo": {
            "exclude": int8_quant.excluded_nodes(model, "resmem"),
            "ops": int8_quant.QUANTISED_OPS + int8_quant.FUSED_ACTIVATIONS,
        },
    }


def frames_per_second(session, feed: dict, calls: int = 3) -> float:  # type: ignore[no-untyped-def]
    session.run(feed)
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        session.run(feed)
        times.append(time.perf_counter() - started)
    return len(feed["frames"]) / float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("names", nargs="*")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--time", action="store_true")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    bundle = resolve_model("resmem")
    fp32 = bundle.path / "model.onnx"
    spec16 = bundle.spec.with_(inputs=tuple(replace(i, num_frames=16) for i in bundle.spec.inputs))
    calibration = [prepare_video(str(VIDEOS / n), spec16).arrays for n in CALIBRATION]
    validation = [prepare_video(str(VIDEOS / n), bundle.spec).arrays for n in VALIDATION]
    torch_session = load_session(bundle, "torch", "cpu")
    reference = [torch_session.run(a)["score"] for a in validation]
    table = variants(onnx.load(str(fp32), load_external_data=False))
    feed16 = {"frames": np.concatenate([a["frames"] for a in validation])[:16]}
    for name in args.names or list(table):
        out = args.work / f"{name}.onnx"
        started = time.perf_counter()
        int8_quant.quantise(
            fp32, out, calibration, method="minmax", cache=args.work / "ranges.json", **table[name]
        )
        session = open_onnx_session(out, "cpu")
        got = [session.run(a)["score"] for a in validation]
        want_v, got_v = [float(r.mean()) for r in reference], [float(g.mean()) for g in got]
        want_f, got_f = np.concatenate(reference), np.concatenate(got)
        row = {"variant": name, "seconds": round(time.perf_counter() - started, 1),
               "video_spearman": spearman(want_v, got_v), "video_max_abs_diff": float(np.max(np.abs(np.subtract(want_v, got_v)))),
               "frame_spearman": spearman(list(want_f), list(got_f)), "frame_max_abs_diff": float(np.max(np.abs(want_f - got_f))),
               "load": os.getloadavg()[0]}  # fmt: skip
        if args.time:
            fp32_rate = frames_per_second(open_onnx_session(fp32, "cpu"), feed16)
            row.update(int8_fps=frames_per_second(session, feed16), fp32_fps=fp32_rate)
        print(json.dumps(row), flush=True)
        out.unlink()


if __name__ == "__main__":
    main()
