"""Which int8 recipe keeps ResMem's parity with margin: calibration, exclusions, output correction.

One run, one table. Frames (16 or 32 keyframes of each calibration video; 7 keyframes of each
of the 8 videos of ``../shared/videos``, as ``memo score``) and ONNX Runtime fp32 reference
scores (= PyTorch fp32 within 2e-7) are computed once and cached in ``--work``; each variant is
quantised (activation ranges cached per calibration set), run on every frame, and scored:

* ``held-out``: per-video Spearman and max abs diff on the 5 videos not used for calibration;
* ``all 8``: the same over all 8 videos (what ``memo bench`` checks);
* each raw, ``+bias`` and ``+affine``: an output correction ``a * score + b`` least-squares
  fitted on the **calibration frames only** (int8 vs fp32) and applied to every frame.

    MEMO_HOME=... nice python benchmarks/int8_robust.py --work /tmp/int8r [variant ...]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from memo.data.inputs import prepare_video
from memo.export import int8_quant
from memo.export.int8_correct import fit_output_correction
from memo.export.parity import spearman
from memo.models.named import resolve_model
from memo.runtime.onnx_backend import open_onnx_session

VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "videos"
CALIBRATION = ["bigbuckbunny_hevc.mkv", "bikes_vp9.webm", "carphone_distorted.mp4"]
ALL = sorted(p.name for p in VIDEOS.iterdir())


def _names(model: onnx.ModelProto, op: str, fragment: str) -> list[str]:
    return [n.name for n in model.graph.node if n.op_type == op and fragment in n.name]


def variants(model: onnx.ModelProto) -> dict[str, dict]:
    first = int8_quant.excluded_nodes(model, "none")
    l4 = _names(model, "Conv", "/layer4/")
    adds = {"ops": ("Conv", "Add"), "exclude": first}
    base = {"ops": ("Conv",), "exclude": first + l4}
    table = {
        "shipped": {**base, "frames": 16},
        "frames32": {**base, "frames": 32},
        "adds": {**adds, "frames": 16},
        "adds_frames32": {**adds, "frames": 32},
        "all_conv": {"ops": ("Conv",), "exclude": first, "frames": 16},
        "l3_fp32_tail": {**base, "exclude": base["exclude"] + _tail(model, 12), "frames": 16},
        "l1_fp32": {**base, "exclude": base["exclude"] + _names(model, "Conv", "/layer1/"), "frames": 16},
        "l2_fp32": {**base, "exclude": base["exclude"] + _names(model, "Conv", "/layer2/"), "frames": 16},
        "entropy": {**base, "frames": 16, "method": "entropy"},
        "bypass": {**base, "frames": 16, "bypass": True},
        "relu": {**base, "ops": ("Conv", "Relu"), "frames": 16},
        "relu_all_conv": {"ops": ("Conv", "Relu"), "exclude": first, "frames": 16},
        "relu_frames32": {**base, "ops": ("Conv", "Relu"), "frames": 32},
        "relu_l1": {
            **base,
            "ops": ("Conv", "Relu"),
            "exclude": base["exclude"] + _names(model, "Conv", "/layer1/"),
            "frames": 16,
        },
        "relu_l1l2": {
            **base,
            "ops": ("Conv", "Relu"),
            "frames": 16,
            "exclude": base["exclude"]
            + _names(model, "Conv", "/layer1/")
            + _names(model, "Conv", "/layer2/"),
        },
        "relu_l1l2_l4int8": {
            "ops": ("Conv", "Relu"),
            "frames": 16,
            "exclude": first + _names(model, "Conv", "/layer1/") + _names(model, "Conv", "/layer2/"),
        },
        "relu_bypass": {**base, "ops": ("Conv", "Relu"), "frames": 16, "bypass": True},
        "avg16": {**base, "frames": 16, "avg": True},
        "avg32": {**base, "frames": 32, "avg": True},
        "avg16_l1": {
            **base,
            "exclude": base["exclude"] + _names(model, "Conv", "/layer1/"),
            "frames": 16,
            "avg": True,
        },
        "avg32_l1": {
            **base,
            "exclude": base["exclude"] + _names(model, "Conv", "/layer1/"),
            "frames": 32,
            "avg": True,
        },
        "avg32_all_conv": {"ops": ("Conv",), "exclude": first, "frames": 32, "avg": True},
        "bypass_all_conv": {"ops": ("Conv",), "exclude": first, "frames": 16, "bypass": True},
        "bypass_frames32": {**base, "frames": 32, "bypass": True},
    }
    convs = [n.name for n in model.graph.node if n.op_type == "Conv"]
    groups = {"l1": ["/layer1/"], "l2": ["/layer2/"], "l4": ["/layer4/"],
              "l3a": [f"/layer3/layer3.{i}/" for i in range(12)],
              "l3b": [f"/layer3/layer3.{i}/" for i in range(12, 24)],
              "l3c": [f"/layer3/layer3.{i}/" for i in range(24, 36)]}  # fmt: skip
    for group, fragments in groups.items():  # sensitivity: quantise one group only
        only = [c for c in convs if not any(f in c for f in fragments)]
        table[f"only_{group}"] = {"ops": ("Conv",), "exclude": only, "frames": 16}
    table["only_branch"] = {
        "ops": ("Conv",),
        "exclude": [c for c in convs if "/features/" in c],
        "frames": 16,
    }
    return table


def _tail(model: onnx.ModelProto, blocks: int) -> list[str]:
    """Convolutions of layer3's last ``blocks`` blocks (of 36)."""
    keep = {f"/layer3/layer3.{i}/" for i in range(36 - blocks, 36)}
    return [n.name for n in model.graph.node if n.op_type == "Conv" and any(k in n.name for k in keep)]


def bypass_quantisation(path: Path, ops: Sequence[str], exclude: Iterable[str] = ()) -> int:
    """Feed every operator that is not quantised the fp32 tensor, not its quantised copy.

    ONNX Runtime's QDQ quantiser replaces a tensor by its ``QuantizeLinear -> DequantizeLinear``
    copy for *every* consumer, so the fp32 ``Add`` of a residual block reads a rounded copy of
    the residual stream and ResNet-152 re-rounds that stream 50 times. Rewiring those consumers
    to the original tensor keeps the skip path fp32 while each convolution still reads int8.
    A quantised operator's own output copy is left alone: ONNX Runtime fuses
    ``DequantizeLinear -> Conv -> QuantizeLinear`` into one integer convolution only with it.
    Returns the number of inputs rewired.
    """
    model = onnx.load(str(path))
    producer = {o: n for n in model.graph.node for o in n.output}
    excluded = set(exclude)

    def quantised(node: Any) -> bool:
        return node.op_type in ops and node.name not in excluded

    rewired = 0
    for node in model.graph.node:
        if quantised(node) or node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            continue
        for i, name in enumerate(node.input):
            dq = producer.get(name)
            q = producer.get(dq.input[0]) if dq is not None and dq.op_type == "DequantizeLinear" else None
            if q is None or q.op_type != "QuantizeLinear":
                continue
            source = producer.get(q.input[0])
            if source is None or not quantised(source):
                node.input[i] = q.input[0]
                rewired += 1
    onnx.save(model, str(path))
    return rewired


def run_all(session, frames: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    out = [session.run({"frames": frames[i : i + 16]})["score"] for i in range(0, len(frames), 16)]
    return np.concatenate(out).astype(np.float64)


def prepare(work: Path, fp32: Path) -> dict[str, np.ndarray]:
    cache = work / "frames.npz"
    if cache.is_file():
        return dict(np.load(cache))
    bundle = resolve_model("resmem")
    data: dict[str, np.ndarray] = {}
    for count in (16, 32):
        spec = bundle.spec.with_(inputs=tuple(replace(i, num_frames=count) for i in bundle.spec.inputs))
        data[f"cal{count}"] = np.concatenate(
            [prepare_video(str(VIDEOS / n), spec).arrays["frames"] for n in CALIBRATION]
        )
    videos = [prepare_video(str(VIDEOS / n), bundle.spec).arrays["frames"] for n in ALL]
    data["val"] = np.concatenate(videos)
    data["val_index"] = np.concatenate([np.full(len(v), i) for i, v in enumerate(videos)])
    session = open_onnx_session(fp32, "cpu")
    for key in ("cal16", "cal32", "val"):
        data[f"ref_{key}"] = run_all(session, data[key])
    np.savez(cache, **data)
    return data


def metrics(want: np.ndarray, got: np.ndarray, index: np.ndarray, videos: list[int]) -> dict[str, float]:
    want_v = [float(want[index == v].mean()) for v in videos]
    got_v = [float(got[index == v].mean()) for v in videos]
    return {"spearman": round(spearman(want_v, got_v), 4),
            "max_diff": round(float(np.max(np.abs(np.subtract(got_v, want_v)))), 4)}  # fmt: skip


def time_pair(int8, fp32, frames: np.ndarray, calls: int = 3) -> dict:  # type: ignore[no-untyped-def]
    """Median seconds of int8 and fp32 calls on the same 16 frames, interleaved (shared load)."""
    feed = {"frames": frames[:16]}
    int8.run(feed), fp32.run(feed)
    times: dict[str, list[float]] = {"int8": [], "fp32": []}
    for _ in range(calls):
        for key, session in (("int8", int8), ("fp32", fp32)):
            started = time.perf_counter()
            session.run(feed)
            times[key].append(time.perf_counter() - started)
    rate = {k: 16 / float(np.median(v)) for k, v in times.items()}
    return {"int8_fps": round(rate["int8"], 2), "fp32_fps": round(rate["fp32"], 2),
            "speedup": round(rate["int8"] / rate["fp32"], 2)}  # fmt: skip


def evaluate(name: str, spec: dict, data: dict, work: Path, fp32: Path, timed: bool = False) -> dict:
    frames = spec.get("frames", 16)
    method = spec.get("method", "minmax")
    out = work / f"{name}.onnx"
    started = time.perf_counter()
    avg = spec.get("avg", False)  # range = mean over frames of each frame's min / max
    step = 1 if avg else 8
    batches = [
        {"frames": data[f"cal{frames}"][i : i + step]} for i in range(0, len(data[f"cal{frames}"]), step)
    ]
    ops = spec["ops"]
    cache = work / f"ranges-{method}{'-avg' if avg else ''}-{frames}-{'-'.join(ops)}.json"
    int8_quant.quantise(
        fp32,
        out,
        batches,
        method=method,
        exclude=spec["exclude"],
        ops=ops,
        cache=cache,
        moving_average=avg,
    )
    if spec.get("bypass", False):
        bypass_quantisation(out, ops, spec["exclude"])
    session = open_onnx_session(out, "cpu")
    cal = run_all(session, data[f"cal{frames}"])
    val = run_all(session, data["val"])
    held = [i for i, n in enumerate(ALL) if n not in CALIBRATION]
    row: dict = {
        "variant": name,
        "seconds": round(time.perf_counter() - started, 1),
        "load": os.getloadavg()[0],
    }
    for kind in ("raw", "bias", "affine"):
        if kind == "raw":
            fixed = val
        else:
            scale, shift = fit_output_correction(cal, data[f"ref_cal{frames}"], affine=kind == "affine")
            fixed = scale * val + shift
            row[f"{kind}_fit"] = [round(scale, 5), round(shift, 5)]
        row[f"{kind}_held"] = metrics(data["ref_val"], fixed, data["val_index"], held)
        row[f"{kind}_all8"] = metrics(data["ref_val"], fixed, data["val_index"], list(range(len(ALL))))
    row["video_diffs_raw"] = [round(float(val[data["val_index"] == v].mean() - data["ref_val"][data["val_index"] == v].mean()), 4)
                              for v in range(len(ALL))]  # fmt: skip
    error = val - data["ref_val"]
    row["frame_error_mean_std"] = [round(float(error.mean()), 4), round(float(error.std()), 4)]
    if timed:
        row.update(time_pair(session, open_onnx_session(fp32, "cpu"), data["val"]))
    np.save(work / f"{name}.scores.npy", np.concatenate([cal, val]))
    out.unlink()
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("names", nargs="*")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--time", action="store_true", help="also time int8 vs fp32 at batch 16")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    fp32 = resolve_model("resmem").path / "model.onnx"
    data = prepare(args.work, fp32)
    table = variants(onnx.load(str(fp32), load_external_data=False))
    for name in args.names or list(table):
        print(json.dumps(evaluate(name, table[name], data, args.work, fp32, args.time)), flush=True)


if __name__ == "__main__":
    main()
