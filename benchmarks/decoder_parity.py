"""ResMem scores with ``--decoder dali`` vs ``--decoder pyav`` on issue 19's transcoded case.

    python benchmarks/decoder_parity.py [--frames 7]

Eight videos of ../shared/videos, transcoded to 320x240 VP9 (75 frames each) so that DALI's
CPU backend decodes them, then the WebM files of ../shared/videos as they are; each is scored by ResMem (torch, CPU) from each decoder's frames
through memo's one preprocessing. Prints, per video, both scores, their difference, the mean
|difference| of the decoded frames in 8-bit levels, and the same score difference with the
model input of one decoder built from the *other* decoder's frames (0 when preprocessing
is one thing: only the decoded pixels can move the score).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from resmem_dali import SHARED, resmem_on_cpu

from memo.data.decode import index_video, keyframe_times
from memo.data.decoders import get_decoder
from memo.data.synthetic import transcode_vp9


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=7)
    args = parser.parse_args()
    resmem = resmem_on_cpu()
    spec, dali, pyav = resmem.spec, resmem.dali, get_decoder("pyav")
    diffs = []
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'video':34s} {'pyav':>8s} {'dali':>8s} {'diff':>9s} {'levels':>6s} {'same frames':>11s}")
        jobs = [(s, True) for s in sorted(SHARED.glob("*.*"))[:8]] + [
            (s, False) for s in sorted(SHARED.glob("*.webm"))
        ]
        for source, transcoded in jobs:
            path = (
                str(transcode_vp9(source, Path(tmp) / f"{source.stem}.webm")) if transcoded else str(source)
            )
            info = index_video(path)
            times = keyframe_times(info, args.frames)
            a, b = pyav.read(path, times, info), dali.read(path, times, info)
            score_a = resmem.score_input(pyav.preprocessed(path, times, info, spec).array)
            score_b = resmem.score_input(dali.preprocessed(path, times, info, spec).array)
            same = resmem.score(a.frames)
            levels = float(np.abs(a.frames.astype(np.int16) - b.frames).mean())
            diffs.append(score_b - score_a)
            label = source.name + ("" if transcoded else " (as is)")
            print(f"{label:34s} {score_a:8.5f} {score_b:8.5f} {score_b - score_a:+9.2e} {levels:6.2f} "
                  f"{same - score_a:+11.1e}")  # fmt: skip
    print(
        f"max |diff| {max(map(abs, diffs)):.2e}, DALI higher on {sum(d > 0 for d in diffs)} of {len(diffs)}"
    )


if __name__ == "__main__":
    main()
