"""Keyframe sampling speed: index + seek (memo's sampler) vs decoding every frame.

    python benchmarks/decode.py [VIDEO ...] [--frames 7] [--repeats 5]

Both sides return the same frames (the frame on screen at each of N evenly spread
times) as RGB images; the baseline decodes the whole stream and converts only the
frames it keeps, so the difference is the decoding the seek-based sampler avoids.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import av

from memo.data.decode import index_video, keyframe_times, read_frames_at

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "videos"


def decode_everything(path: str, count: int) -> list:
    info = index_video(path)
    targets = keyframe_times(info, count)
    picked: list = [None] * count
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        previous = None
        k = 0
        for frame in container.decode(stream):
            while k < count and frame.time > targets[k] + 1e-6:
                picked[k] = previous.to_image() if previous is not None else frame.to_image()
                k += 1
            previous = frame
        while k < count:
            picked[k] = previous.to_image()
            k += 1
    return picked


def sample(path: str, count: int) -> list:
    info = index_video(path)
    return read_frames_at(path, keyframe_times(info, count), info).images


def best_of(fn, path: str, count: int, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(path, count)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", nargs="*", type=Path)
    parser.add_argument("--frames", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    videos = args.videos or sorted(SHARED.glob("*.*"))
    print(f"{'video':34} {'frames':>6} {'seek (videos/s)':>16} {'decode-all (videos/s)':>22} {'speed-up':>9}")
    for path in videos:
        info = index_video(str(path))
        seek = best_of(sample, str(path), args.frames, args.repeats)
        full = best_of(decode_everything, str(path), args.frames, args.repeats)
        print(f"{path.name:34} {info.num_frames:>6} {1 / seek:>16.2f} {1 / full:>22.2f} {full / seek:>8.2f}x")


if __name__ == "__main__":
    main()
