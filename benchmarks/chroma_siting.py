"""Why DALI and PyAV differed on the real WebM files: the declared chroma siting (issue 19).

    python benchmarks/chroma_siting.py [--frames 7]

For every video of ../shared/videos, at memo's sampled frames (``keyframe_times``):

* ``declared``: the chroma siting PyAV's conversion (``sws_scale_frame``) applied, found by
  matching its output bit for bit against FFmpeg's ``scale`` filter told each siting
  explicitly (``in_h_chr_pos``/``in_v_chr_pos``); ``centre`` is what swscale assumes for a
  frame that declares none, and what DALI's CPU backend uses for every frame;
* ``siting lv``: mean / max |difference| in 8-bit levels between the conversion that honours
  the declared siting (memo before this change) and memo's conversion now
  (:func:`memo.data.container.frame_rgb`, chroma taken as centred);
* ``dali vs honour`` / ``dali vs memo``: the same against DALI's CPU frames (VP8/VP9 only);
* ResMem (torch, CPU) per-video scores: honouring the siting, memo's conversion, DALI, and
  the differences.

Decoding is sequential from the first frame (presentation order = decode order for these
files), so the frames compared are the same frames; only the conversion differs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import av
import numpy as np
from resmem_dali import SHARED, resmem_on_cpu

from memo.data.container import RGB_SWS_FLAGS, frame_rgb
from memo.data.decode import index_video, keyframe_times
from memo.data.decoders.base import frame_indices

#: FFmpeg's chroma locations as swscale positions (1/256 of a chroma sample): h, v.
SITINGS = {"left": (0, 128), "centre": (128, 128), "topleft": (0, 0), "top": (128, 0),
           "bottomleft": (0, 256), "bottom": (128, 256)}  # fmt: skip


def sited(stream: av.video.stream.VideoStream, frame: av.VideoFrame, h: int, v: int) -> np.ndarray:
    """``frame`` in RGB by swscale (memo's flags) with the chroma siting given explicitly."""
    graph = av.filter.Graph()
    source = graph.add_buffer(template=stream)
    scale = graph.add(
        "scale",
        f"w={frame.width}:h={frame.height}:flags=bilinear+full_chroma_int+accurate_rnd"
        f":in_h_chr_pos={h}:in_v_chr_pos={v}",
    )
    rgb, sink = graph.add("format", "rgb24"), graph.add("buffersink")
    source.link_to(scale)
    scale.link_to(rgb)
    rgb.link_to(sink)
    graph.configure()
    graph.push(frame)
    return graph.pull().to_ndarray()


def decode(path: Path, indices: list[int]) -> tuple[np.ndarray, np.ndarray, str]:
    """(honouring the declared siting, memo's conversion, the siting found) at ``indices``."""
    honour, ours, declared = [], [], set()
    wanted = set(indices)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for number, frame in enumerate(container.decode(stream)):
            if number > max(indices):
                break
            if number not in wanted:
                continue
            direct = frame.reformat(format="rgb24", interpolation=RGB_SWS_FLAGS).to_ndarray()
            honour.append(direct)
            ours.append(frame_rgb(frame))
            found = [n for n, (h, v) in SITINGS.items() if np.array_equal(sited(stream, frame, h, v), direct)]
            declared.add("/".join(found) or "none matched")
    by_index = {n: k for k, n in enumerate(sorted(wanted))}
    order = [by_index[n] for n in indices]
    return np.stack(honour)[order], np.stack(ours)[order], ",".join(sorted(declared))


def levels(a: np.ndarray, b: np.ndarray) -> str:
    diff = np.abs(a.astype(np.int16) - b)
    return f"{diff.mean():.3f}/{diff.max():d}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=7)
    args = parser.parse_args()
    resmem = resmem_on_cpu()
    dali, score = resmem.dali, resmem.score
    print(f"{'video':28s} {'declared':9s} {'siting lv':>9s} {'dali vs honour':>14s} {'dali vs memo':>12s} "
          f"{'honour':>8s} {'memo':>8s} {'dali':>8s} {'memo-honour':>11s} {'dali-memo':>9s}")  # fmt: skip
    for path in sorted(SHARED.glob("*.*")):
        info = index_video(str(path))
        times = keyframe_times(info, args.frames)
        honour, ours, declared = decode(path, frame_indices(info, times))
        row = f"{path.name:28s} {declared:9s} {levels(honour, ours):>9s}"
        with_dali = dali.unsupported(info) is None
        theirs = dali.read(str(path), times, info).frames if with_dali else None
        row += f" {levels(theirs, honour) if with_dali else '-':>14s} {levels(theirs, ours) if with_dali else '-':>12s}"
        s_honour, s_ours = score(honour), score(ours)
        s_dali = score(theirs) if theirs is not None else float("nan")
        print(
            f"{row} {s_honour:8.5f} {s_ours:8.5f} {s_dali:8.5f} {s_ours - s_honour:+11.2e} {s_dali - s_ours:+9.2e}"
        )


if __name__ == "__main__":
    main()
