"""Threads x batch x backend on ResMem, side by side: one process, calls interleaved, current load.

    MEMO_HOME=... python benchmarks/threads_batch_ab.py   (needs ../shared/videos and model.onnx)

Prints frames/s (median of 3 calls after a warm-up) for torch and ONNX Runtime fp32 at 1 and
2 intra-op threads and batch 1, 4 and 16, with the load average. Figures: docs/performance.md.
"""

import json
import os
import time
from pathlib import Path

import numpy as np

from memo.data.inputs import prepare_video
from memo.models.named import resolve_model
from memo.runtime.base import load_session
from memo.runtime.options import LoadOptions

VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "videos"
b = resolve_model("resmem")
frames = np.concatenate(
    [
        prepare_video(str(VIDEOS / n), b.spec).arrays["frames"]
        for n in ("bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4")
    ]
)
sessions = {
    (be, t): load_session(b, be, "cpu", LoadOptions(threads=t)) for be in ("torch", "onnx") for t in (1, 2)
}
times = {}
load0 = os.getloadavg()
for batch in (1, 4, 16):
    feed = {"frames": frames[:batch]}
    for s in sessions.values():
        s.run(feed)  # warm-up
    for _rep in range(3):
        for key, s in sessions.items():
            t0 = time.perf_counter()
            s.run(feed)
            dt = time.perf_counter() - t0
            times.setdefault((*key, batch), []).append(dt)
    print(batch, "done", os.getloadavg(), flush=True)
rows = [
    {
        "backend": k[0],
        "threads": k[1],
        "batch": k[2],
        "frames_per_s": round(k[2] / float(np.median(v)), 2),
        "calls_s": [round(x, 2) for x in v],
    }
    for k, v in sorted(times.items())
]
print(json.dumps({"load_start": load0, "load_end": os.getloadavg(), "rows": rows}, indent=1))
