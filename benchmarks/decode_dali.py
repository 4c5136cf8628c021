"""Keyframe sampling throughput: DALI's CPU backend vs PyAV, side by side in one run.

    python benchmarks/decode_dali.py [VIDEO ...] [--frames 7] [--repeats 3] [--device cpu]

Both sides do the same work per video: memo's index pass (PyAV demux, shared), then the
frames on screen at N evenly spread times, as ``uint8`` RGB ("decode") and preprocessed
for ResMem's input (resize 256x256, centre crop 227, normalise: "decode+preprocess").
PyAV decodes with FFmpeg, DALI decodes the same frame numbers with ``fn.decoders.video``;
both preprocess with memo's one preprocessing (``memo.data.preprocess``; before issue 19
DALI resized in its own pipeline, which is what the table in docs/performance.md measured). The DALI side includes reading
the display rotation (one PyAV frame decode) and a warm pipeline (built on a warm-up call).
Default videos: the WebM files in ../shared/videos (DALI's CPU backend decodes VP8/VP9/MJPEG).
``--device cuda`` runs DALI on NVDEC (not run yet: no GPU where this was written).
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable
from pathlib import Path

from memo.data.decode import index_video, keyframe_times
from memo.data.decoders import resolve_decoder
from memo.data.decoders.dali import dali_version
from memo.models.spec import Preprocess

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "videos"
RESMEM = Preprocess((256, 256), (227, 227), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def runner(name: str, device: str, preprocess: bool, count: int) -> Callable[[str], object]:
    decoder = resolve_decoder(name, device).primary  # no fallback: measure this decoder only

    def run(path: str) -> object:
        info = index_video(path)
        times = keyframe_times(info, count)
        if preprocess:
            return decoder.preprocessed(path, times, info, RESMEM)
        return decoder.read(path, times, info)

    return run


def best_of(fn: Callable[[str], object], path: str, repeats: int) -> float:
    fn(path)  # warm-up: builds DALI's pipeline, fills caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(path)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", nargs="*", type=Path)
    parser.add_argument("--frames", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="where DALI runs: cpu, or cuda (NVDEC)")
    args = parser.parse_args()
    if dali_version() is None:
        raise SystemExit("NVIDIA DALI is not installed: pip install 'memo[dali]'")
    import av

    videos = args.videos or sorted(SHARED.glob("*.webm"))
    print(
        f"DALI {dali_version()} ({args.device}), PyAV {av.__version__}, {platform.processor() or platform.machine()}"
    )
    print(f"{args.frames} frames per video, best of {args.repeats}; videos/s")
    header = (
        f"{'video':30} {'pyav':>8} {'dali':>8} {'ratio':>6}   {'pyav+pre':>9} {'dali+pre':>9} {'ratio':>6}"
    )
    print(header)
    total = {key: 0.0 for key in ("pyav", "dali", "pyav+", "dali+")}
    for path in videos:
        seconds = {}
        for key, name, pre in (
            ("pyav", "pyav", False),
            ("dali", "dali", False),
            ("pyav+", "pyav", True),
            ("dali+", "dali", True),
        ):
            device = args.device if name == "dali" else "cpu"
            seconds[key] = best_of(runner(name, device, pre, args.frames), str(path), args.repeats)
            total[key] += seconds[key]
        _row(path.name, seconds)
    _row(f"all {len(videos)} (videos/s)", total, len(videos))


def _row(label: str, seconds: dict[str, float], videos: int = 1) -> None:
    rate = {key: videos / value for key, value in seconds.items()}
    print(
        f"{label:30} {rate['pyav']:>8.2f} {rate['dali']:>8.2f} {rate['dali'] / rate['pyav']:>5.2f}x"
        f"   {rate['pyav+']:>9.2f} {rate['dali+']:>9.2f} {rate['dali+'] / rate['pyav+']:>5.2f}x"
    )


if __name__ == "__main__":
    main()
