"""The bench's flat row: fixed columns, a status, never an exception."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

Status = Literal["ok", "failed", "unavailable"]


@dataclass
class BenchRow:
    backend: str
    precision: str
    batch: int
    status: Status = "ok"
    reason: str = ""
    device: str = ""
    model_mb: float | None = None
    latency_p50_ms: float | None = None
    latency_p90_ms: float | None = None
    latency_p99_ms: float | None = None
    frames_per_s: float | None = None
    videos_per_s: float | None = None
    peak_mem_mb: float | None = None
    peak_mem_kind: str = ""  # "rss delta" (CPU) or "torch cuda max allocated"
    spearman: float | None = None
    max_abs_diff: float | None = None
    parity_videos: int = 0
    e2e_videos_per_s: float | None = None
    decode_ms_per_video: float | None = None
    infer_ms_per_video: float | None = None
    bottleneck: str = ""
    iterations: int = 0

    @property
    def status_text(self) -> str:
        return self.status if self.status == "ok" else f"{self.status}({self.reason})"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["status_text"] = self.status_text
        return data


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(BenchRow))
