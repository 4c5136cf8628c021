"""Generated video datasets with a planted, learnable *temporal* signal (tests, docs, demos).

Every frame of every video is drawn from the same distribution; only the way frames follow
each other carries the label, so a model that looks at frames one at a time (ResMem
averaged over keyframes, any ``unit: frame`` model) cannot beat chance, while a model that
uses time can learn it:

* ``order``: a video is ``segments`` equal segments, each a still picture of a disc at one
  of ``segments`` fixed places along a vertical line (top to bottom, so the
  horizontal flip of training augmentation keeps the label). Every video shows the same pictures in a
  different order; the label is how much the disc travels forward over time (the Pearson
  correlation of segment number and place, mapped to [0, 1]: 1 top to bottom, 0 bottom
  to top). Keyframe samplers (one frame per segment) see a permutation of the same frames.
* ``speed``: a disc runs round a circle at a constant angular speed from a random starting
  angle; the label is the speed. Any single frame shows the disc at a uniformly random angle
  whatever the speed; consecutive frames (a clip) show how far it moves.

* ``size`` (a *visual* control, not temporal): the disc moves as in ``speed`` at a random
  speed, and its radius is the label; every frame shows it, so frame models can learn it.

``write_planted(folder, n, mode)`` writes the videos and a ``labels.csv`` (``path,score``)
that ``memo train csv`` reads.
"""

from __future__ import annotations

import argparse
import csv
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from memo.data.synthetic import KINDS, write_video

MODES = ("order", "speed", "size")


def _disc(
    width: int,
    height: int,
    cx: float,
    cy: float,
    radius: float,
    colour: tuple[int, int, int] = (230, 200, 60),
) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    image = np.full((height, width, 3), 40, dtype=np.uint8)
    image[(x - cx) ** 2 + (y - cy) ** 2 < radius**2] = colour
    return image


def order_video(rng: np.random.Generator, segments: int, size: int) -> tuple[list[int], float]:
    """A permutation of the segment places and its forwardness in [0, 1]."""
    perm = list(rng.permutation(segments))
    r = float(np.corrcoef(np.arange(segments), perm)[0, 1])
    return perm, (r + 1) / 2


def _order_painter(perm: Sequence[int], per_segment: int, size: int):  # type: ignore[no-untyped-def]
    places = np.linspace(size * 0.15, size * 0.85, len(perm))

    def paint(i: int) -> np.ndarray:
        return _disc(size, size, size / 2, places[perm[min(i // per_segment, len(perm) - 1)]], size / 7)

    return paint


def _speed_painter(phase: float, speed: float, size: int, radius: float = 1 / 7):  # type: ignore[no-untyped-def]

    def paint(i: int) -> np.ndarray:
        angle = phase + speed * i
        cx = size / 2 + size * 0.3 * math.cos(angle)
        cy = size / 2 + size * 0.3 * math.sin(angle)
        return _disc(size, size, cx, cy, size * radius)

    return paint


def write_planted(
    folder: str | Path,
    count: int,
    mode: str = "order",
    *,
    size: int = 48,
    segments: int = 7,
    frames_per_segment: int = 4,
    frames: int = 32,
    fps: float = 16,
    kind: str = "h264",
    seed: int = 0,
) -> Path:
    """Write ``count`` videos and ``labels.csv`` into ``folder``; returns the CSV's path."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r} (one of {', '.join(MODES)})")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(count):
        target = folder / f"{mode}_{i:04d}{KINDS[kind][0]}"
        if mode == "order":
            perm, label = order_video(rng, segments, size)
            painter, length = _order_painter(perm, frames_per_segment, size), segments * frames_per_segment
        elif mode == "speed":
            speed = float(rng.uniform(0.05, 0.6))  # radians per frame
            painter, length, label = (
                _speed_painter(float(rng.uniform(0, 2 * math.pi)), speed, size),
                frames,
                speed,
            )
        else:  # size
            radius, speed = float(rng.uniform(0.08, 0.3)), float(rng.uniform(0.05, 0.6))
            painter = _speed_painter(float(rng.uniform(0, 2 * math.pi)), speed, size, radius)
            length, label = frames, radius
        write_video(target, kind, frames=length, fps=fps, width=size, height=size, painter=painter)
        rows.append((target.name, label))
    labels = folder / "labels.csv"
    with labels.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "score"])
        writer.writerows(rows)
    return labels


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write a video dataset with a planted temporal signal.")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--count", type=int, default=64)
    parser.add_argument("--mode", choices=MODES, default="order")
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(write_planted(args.folder, args.count, args.mode, size=args.size, seed=args.seed))


if __name__ == "__main__":
    main()
