"""Throughput of M3-S's low-level extractors (memo.data.lowlevel), in videos/s, on this CPU.

    python benchmarks/m3s_features.py [VIDEO ...] [--size 128] [--frames 8] [--repeats 3]
    python benchmarks/m3s_features.py --trunks [VIDEO ...]    # the mid and high tiers instead

Per video the extractor decodes ``frames`` keyframes plus the frame after each (for the
flow), resizes them to ``size x size`` and greys them ("decode" below); each extractor is
then timed alone on those grey frames (HOG, brightness + contrast, blurriness, flow over
``frames`` pairs), bytes/s on the container's packets, and finally the whole
``extract_lowlevel`` call. Best of ``repeats`` per video; videos/s = videos / summed time.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable
from pathlib import Path

from memo.data.decode import index_video, keyframe_times, read_frames_at
from memo.data.lowlevel import (
    LowLevelConfig,
    blurriness,
    brightness,
    contrast,
    extract_lowlevel,
    flow_magnitude,
    frame_hog,
    grey_frames,
    partner_times,
    stream_bytes_per_second,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "videos"


def best(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(path: str, config: LowLevelConfig, repeats: int) -> dict[str, float]:
    info = index_video(path)
    times = keyframe_times(info, config.num_frames)
    partners = partner_times(info, times)

    def decode() -> list:
        wanted = sorted(set(times) | set(partners))
        return grey_frames(read_frames_at(path, wanted, info).images, config.size)

    greys = decode()
    firsts, seconds = greys[: config.num_frames], greys[1 : config.num_frames + 1]
    return {
        "decode": best(decode, repeats),
        "hog": best(lambda: [frame_hog(g) for g in firsts], repeats),
        "brightness+contrast": best(lambda: [(brightness(g), contrast(g)) for g in firsts], repeats),
        "blurriness": best(lambda: [blurriness(g, config.highpass) for g in firsts], repeats),
        "flow": best(lambda: [flow_magnitude(a, b) for a, b in zip(firsts, seconds, strict=True)], repeats),
        "bytes/s": best(lambda: stream_bytes_per_second(path, info), repeats),
        "extract_lowlevel (all)": best(lambda: extract_lowlevel(path, config), repeats),
    }


def measure_trunks(paths: list[str], repeats: int) -> dict[str, float]:
    """Seconds per tier over ``paths``: memo's input preparation + the frozen trunk (batch 1).

    mid = ResMem (weights from the ``resmem`` package) over 7 keyframes; high = torchvision
    r3d_18 over a 16-frame 112x112 clip at 15 fps (random weights: the cost does not depend
    on them).
    """
    import torch

    from memo.data.inputs import prepare_video
    from memo.data.video_features import backbone_state
    from memo.models.m3s import m3s_spec
    from memo.models.registry import create_model

    totals = {}
    for tier, source in (("mid", "resmem"), ("high", "torchvision:r3d_18")):
        spec = m3s_spec(modules=(tier,), **{tier: source})
        model = create_model("m3s", **spec.arch_args)
        if source == "resmem":
            model.load_trunk("mid", backbone_state("resmem"))
        seconds = 0.0
        for path in paths:

            def run(path: str = path, spec: object = spec, model: object = model) -> object:
                arrays = prepare_video(path, spec).arrays  # type: ignore[arg-type]
                with torch.inference_mode():
                    return model.raw_vectors({k: torch.from_numpy(v) for k, v in arrays.items()})

            seconds += best(run, repeats)
        totals[f"{tier}: {source} (decode + trunk)"] = seconds
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", nargs="*", type=Path)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--trunks", action="store_true", help="time the mid/high trunks instead")
    args = parser.parse_args()
    videos = [str(v) for v in args.videos] or sorted(str(p) for p in SHARED.iterdir() if p.is_file())
    config = LowLevelConfig(size=args.size, num_frames=args.frames)
    totals: dict[str, float] = {}
    if args.trunks:
        totals = measure_trunks(videos, args.repeats)
    for path in [] if args.trunks else videos:
        for name, seconds in measure(path, config, args.repeats).items():
            totals[name] = totals.get(name, 0.0) + seconds
    print(f"# {len(videos)} videos, size {args.size}, {args.frames} frames, best of {args.repeats}")
    print(f"# {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print("| extractor | videos/s | ms/video |\n| --- | --- | --- |")
    for name, seconds in totals.items():
        print(f"| {name} | {len(videos) / seconds:.1f} | {1000 * seconds / len(videos):.1f} |")


if __name__ == "__main__":
    main()
