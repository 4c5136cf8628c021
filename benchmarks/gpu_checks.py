"""The checks of ``gpu_check.py``: each returns ``(status, value, tolerance)`` for one row.

Each is run only when CUDA is present (imports stay inside the functions, so the no-CUDA
run is fast). The model is the default ResMem bundle when the ``resmem`` package (or a
built bundle in ``$MEMO_HOME``) is there, else the same architecture with seeded random
weights: comparing devices needs the network, not its training.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "videos"
MEAN_LEVELS = 3.0  # decoder vs decoder, mean |difference| in 8-bit levels (tests/test_dali_decoder.py)
DECODER_SCORE_ATOL = 1e-3  # per video, DALI GPU vs PyAV: NVDEC converts YUV->RGB its own way (unmeasured)
BATCH = 64
REAL = {"h264": "bikes.mp4", "hevc": "bigbuckbunny_hevc.mkv", "vp9": "bikes_vp9.webm"}


class Context:
    """What several checks share, built on first use inside the run's temporary folder."""

    def __init__(self, workdir: Path, videos: int, device: str = "cuda") -> None:
        self.workdir = workdir
        self.videos = videos
        self.device = device  # "cpu": a rehearsal of the same code paths on a machine without a GPU
        self.batch = BATCH if device != "cpu" else 4

    @cached_property
    def spec(self) -> Any:
        return self.bundle.spec.inputs[0].preprocess

    @cached_property
    def bundle(self) -> Any:
        if self.device == "cpu":  # a rehearsal checks code paths, not ResNet-152's speed: a tiny CNN
            return self._tiny()
        try:
            from memo.models.named import resolve_model

            return resolve_model("resmem")
        except Exception:  # no resmem package here: same network, seeded random weights
            import torch

            from memo.models.bundle import save_bundle
            from memo.models.registry import create_model
            from memo.models.resmem import resmem_spec

            torch.manual_seed(0)
            return save_bundle(
                self.workdir / "resmem-random", resmem_spec(), create_model("resmem").state_dict()
            )

    def _tiny(self) -> Any:
        import torch

        from memo.models.bundle import save_bundle
        from memo.models.registry import create_model
        from memo.models.tiny import framecnn_spec

        torch.manual_seed(0)
        spec = framecnn_spec(size=64).with_(arch_args={"width": 8})
        return save_bundle(self.workdir / "framecnn", spec, create_model("framecnn", width=8).state_dict())

    @cached_property
    def frames(self) -> np.ndarray:
        """16 preprocessed frames of a generated H.264 video (PyAV + PIL, the CPU reference)."""
        from memo.data.decode import index_video, keyframe_times, read_frames_at
        from memo.data.preprocess import preprocess_frames

        path = str(self.clip("h264"))
        info = index_video(path)
        return preprocess_frames(read_frames_at(path, keyframe_times(info, 16), info).images, self.spec)

    @cached_property
    def cpu_scores(self) -> np.ndarray:
        from memo.runtime import load_session

        return load_session(self.bundle, "torch", "cpu").run({"frames": self.frames})["score"]

    def clip(self, codec: str) -> Path:
        from memo.data.synthetic import KINDS, write_video

        path = self.workdir / f"clip-{codec}{KINDS[codec][0]}"
        if not path.exists():
            write_video(path, codec, frames=60, fps=25, width=320, height=240, seed=len(codec))
        return path

    @cached_property
    def timing_folder(self) -> Path:
        from memo.data.synthetic import write_video

        folder = self.workdir / "timing"
        folder.mkdir()
        for i in range(self.videos):
            write_video(folder / f"v{i:03d}.mp4", "h264", frames=75, fps=25, width=320, height=240, seed=i)
        return folder


def _status(ok: bool, why: str) -> str:
    return "ok" if ok else f"failed({why})"


def preprocess_on_cuda(ctx: Context) -> tuple[str, str, str]:
    import torch

    from memo.data.preprocess import preprocess_frames, resize_frames

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (4, 720, 1280, 3), dtype=np.uint8)
    worst = 0.0
    for spec in (ctx.spec, _imagenet(), _bicubic()):
        host = preprocess_frames(frames, spec)
        device = preprocess_frames(torch.from_numpy(frames).to(ctx.device), spec)
        worst = max(worst, float(np.abs(device.cpu().numpy() - host).max()))
        if device.device.type != torch.device(ctx.device).type:
            return "failed(output left the device)", "", "exact"
    portrait = (
        resize_frames(torch.from_numpy(frames[:, :, :400]).to(ctx.device), (256, 256), "bicubic")
        .cpu()
        .numpy()
    )
    worst = max(
        worst,
        float(np.abs(portrait.astype(int) - resize_frames(frames[:, :, :400], (256, 256), "bicubic")).max()),
    )
    return _status(worst == 0.0, f"max diff {worst:g}"), f"max |diff| {worst:g}", "exact (0)"


def _imagenet() -> Any:
    from memo.models.spec import Preprocess

    return Preprocess((256,), (224, 224), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def _bicubic() -> Any:
    from memo.models.spec import Preprocess

    return Preprocess((160,), (144, 144), interpolation="bicubic")


def nvdec_frames(codec: str) -> Callable[[Context], tuple[str, str, str]]:
    def check(ctx: Context) -> tuple[str, str, str]:
        from memo.data.decode import index_video, keyframe_times
        from memo.data.decoders import get_decoder
        from memo.data.decoders.dali import DaliDecoder, dali_version

        if dali_version() is None:
            return "unavailable(DALI not installed)", "", ""
        paths = [ctx.clip(codec)] + ([SHARED / REAL[codec]] if (SHARED / REAL[codec]).is_file() else [])
        dali, means, done = DaliDecoder().on(ctx.device), [], []
        for path in paths:
            info = index_video(str(path))
            if dali.unsupported(info):  # only in a CPU rehearsal: NVDEC decodes all three
                continue
            done.append(path)
            times = keyframe_times(info, 5)
            got = dali.read(str(path), times, info)
            ref = get_decoder("pyav").read(str(path), times, info)
            if got.frames.shape != ref.frames.shape or got.times != ref.times:
                return f"failed({path.name}: shape/times differ)", "", ""
            diff = np.abs(got.frames.astype(np.int16) - ref.frames.astype(np.int16))
            means.append(float(diff.mean()))
            per_frame = diff.reshape(len(times), -1).mean(axis=1)
            for i in range(len(times)):  # the right frame: closest to PyAV's own at that time
                for j in range(len(times)):
                    if ref.times[j] != ref.times[i]:
                        other = np.abs(got.frames[i].astype(np.int16) - ref.frames[j]).mean()
                        if other <= per_frame[i]:
                            return f"failed({path.name}: frame {i} is a neighbour)", "", ""
        if not done:
            return f"unavailable(DALI on {ctx.device} does not decode {codec})", "", ""
        value = ", ".join(f"{p.name} {m:.2f}" for p, m in zip(done, means, strict=True))
        return (
            _status(max(means) <= MEAN_LEVELS, "too far from PyAV"),
            f"mean levels: {value}",
            f"<= {MEAN_LEVELS}",
        )

    return check


def dlpack_stays_on_device(ctx: Context) -> tuple[str, str, str]:
    import torch
    from torch.profiler import ProfilerActivity, profile

    from memo.data.decode import index_video, keyframe_times
    from memo.data.decoders.dali import DaliDecoder, dali_version
    from memo.data.decoders.dali_graph import GraphKey

    if dali_version() is None:
        return "unavailable(DALI not installed)", "", ""
    path = str(ctx.clip("vp9"))
    info = index_video(path)
    dali = DaliDecoder().on(ctx.device)
    out = dali._run(path, GraphKey(0 if ctx.device != "cpu" else None, 0), [0, 3])
    view = torch.from_dlpack(out)
    if view.device.type != torch.device(ctx.device).type or view.data_ptr() != out.data_ptr():
        return "failed(DLPack view is not DALI's device buffer)", f"{view.device}", "same pointer"
    times = keyframe_times(info, 7)
    dali.preprocessed(path, times, info, ctx.spec)  # warm pipeline
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        batch = dali.preprocessed(path, times, info, ctx.spec)
        if ctx.device != "cpu":
            torch.cuda.synchronize()
    to_host = [e.name for e in prof.events() if "DtoH" in e.name or "Device -> Host" in e.name]
    tensor = batch.array
    on_device = isinstance(tensor, torch.Tensor) and tensor.device.type == torch.device(ctx.device).type
    if ctx.device != "cpu" and not on_device:
        return "failed(preprocessed frames are not a CUDA tensor)", type(tensor).__name__, "CUDA tensor"
    value = f"{tensor.device}, {tuple(tensor.shape)}, DtoH copies: {len(to_host)}"
    return _status(not to_host, f"device-to-host copies: {to_host[:2]}"), value, "0 DtoH copies"


def dali_scores(ctx: Context) -> tuple[str, str, str]:
    from memo.data.decoders import resolve_decoder
    from memo.data.decoders.dali import dali_version
    from memo.data.inputs import prepare_video
    from memo.runtime import load_session

    if dali_version() is None:
        return "unavailable(DALI not installed)", "", ""
    session = load_session(ctx.bundle, "torch", ctx.device)
    worst = 0.0
    for codec in ("h264", "hevc", "vp9"):
        path = str(ctx.clip(codec))
        gpu = prepare_video(path, ctx.bundle.spec, decoder=resolve_decoder("dali", ctx.device))
        cpu = prepare_video(path, ctx.bundle.spec, decoder=resolve_decoder("pyav", "cpu"))
        a = float(np.mean(session.run(gpu.arrays)["score"]))
        b = float(np.mean(session.run(cpu.arrays)["score"]))
        worst = max(worst, abs(a - b))
    return (
        _status(worst <= DECODER_SCORE_ATOL, f"{worst:.2e}"),
        f"max |video diff| {worst:.2e}",
        f"<= {DECODER_SCORE_ATOL}",
    )


def torch_cuda(ctx: Context) -> tuple[str, str, str]:
    from memo.runtime import load_session

    got = load_session(ctx.bundle, "torch", ctx.device).run({"frames": ctx.frames})["score"]
    diff = float(np.abs(np.asarray(got) - ctx.cpu_scores).max())
    atol = ctx.bundle.spec.export_atol
    return (
        _status(diff <= atol, f"{diff:.2e}"),
        f"max |frame diff| {diff:.2e}",
        f"<= {atol} (spec export_atol)",
    )


def ort_cuda(ctx: Context) -> tuple[str, str, str]:
    from memo.runtime import load_session

    reason = _onnx_missing(ctx)
    if reason:
        return f"unavailable({reason})", "", ""
    _export(ctx)
    got = load_session(ctx.bundle, "onnx", ctx.device).run({"frames": ctx.frames})["score"]
    diff = float(np.abs(np.asarray(got) - ctx.cpu_scores).max())
    atol = ctx.bundle.spec.export_atol
    return (
        _status(diff <= atol, f"{diff:.2e}"),
        f"max |frame diff| {diff:.2e}",
        f"<= {atol} (spec export_atol)",
    )


def _onnx_missing(ctx: Context) -> str | None:
    """Why the ORT rows cannot run here (``None`` when they can)."""
    import importlib.util

    from memo.runtime import available_backends

    if importlib.util.find_spec("onnx") is None:
        return "the onnx package is not installed (needed to export the model)"
    return available_backends(ctx.device).get("onnx")


def _export(ctx: Context) -> None:
    from memo.export.onnx_export import export_onnx

    if not getattr(ctx, "_exported", False):
        export_onnx(ctx.bundle, batch="1:16:64", videos=ctx.clip("h264").parent)
        ctx._exported = True  # type: ignore[attr-defined]


def model_only(backend: str) -> Callable[[Context], tuple[str, str, str]]:
    def check(ctx: Context) -> tuple[str, str, str]:
        from memo.runtime import available_backends, load_session

        reason = _onnx_missing(ctx) if backend == "onnx" else available_backends(ctx.device).get(backend)
        if reason:
            return f"unavailable({reason})", "", ""
        if backend == "onnx":
            _export(ctx)
        session = load_session(ctx.bundle, backend, ctx.device)
        batch = np.resize(ctx.frames, (ctx.batch, *ctx.frames.shape[1:]))
        for _ in range(3):
            session.run({"frames": batch})
        runs, started = 10, time.perf_counter()
        for _ in range(runs):
            session.run({"frames": batch})  # returns host arrays: synchronised
        return (
            "ok",
            f"{runs * ctx.batch / (time.perf_counter() - started):.1f} frames/s",
            f"batch {ctx.batch}",
        )

    return check


def end_to_end(backend: str, decoder: str) -> Callable[[Context], tuple[str, str, str]]:
    def check(ctx: Context) -> tuple[str, str, str]:
        from memo.data.decoders.dali import dali_version
        from memo.score import ScoreOptions, score_videos

        if decoder == "dali" and dali_version() is None:
            return "unavailable(DALI not installed)", "", ""
        reason = _onnx_missing(ctx) if backend == "onnx" else None
        if reason:
            return f"unavailable({reason})", "", ""
        if backend == "onnx":
            _export(ctx)

        def run(inputs: list[str], name: str) -> Any:
            return score_videos(ScoreOptions(
                inputs=inputs, output=ctx.workdir / f"scores-{backend}-{decoder}-{name}.csv",
                model=str(ctx.bundle.path), backend=backend, device=ctx.device, decoder=decoder,
                batch_size=ctx.batch, workers=4,
            ))  # fmt: skip

        run([str(p) for p in sorted(ctx.timing_folder.iterdir())[:4]], "warm-up")  # model load, pipelines
        summary = run([str(ctx.timing_folder)], "timed")
        frames = summary.scored * ctx.bundle.spec.inputs[0].num_frames
        rate = f"{frames / summary.seconds:.0f} frames/s ({summary.scored / summary.seconds:.1f} videos/s)"
        return (
            _status(summary.failed == 0, f"{summary.failed} failed"),
            rate,
            f"{ctx.videos} videos, batch {ctx.batch}",
        )

    return check


CHECKS: list[tuple[str, Callable[[Context], tuple[str, str, str]]]] = [
    ("preprocess: torch CUDA == PIL", preprocess_on_cuda),
    ("DALI NVDEC H.264 frames vs PyAV", nvdec_frames("h264")),
    ("DALI NVDEC HEVC frames vs PyAV", nvdec_frames("hevc")),
    ("DALI NVDEC VP9 frames vs PyAV", nvdec_frames("vp9")),
    ("DALI GPU -> torch by DLPack, stays on device", dlpack_stays_on_device),
    ("scores: DALI GPU vs PyAV (torch CUDA)", dali_scores),
    ("scores: torch CUDA vs torch CPU", torch_cuda),
    ("scores: ORT CUDA vs torch CPU", ort_cuda),
    ("time: model only, torch CUDA", model_only("torch")),
    ("time: model only, ORT CUDA", model_only("onnx")),
    ("time: memo score, torch CUDA + PyAV", end_to_end("torch", "pyav")),
    ("time: memo score, torch CUDA + DALI", end_to_end("torch", "dali")),
    ("time: memo score, ORT CUDA + DALI", end_to_end("onnx", "dali")),
]
