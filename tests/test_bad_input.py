"""A corpus of broken and odd inputs, built here, scored in one batch.

Every bad file must get a failed row with a one-line error naming the file and the
cause; damaged files that still open are scored from what decodes and flagged; the
batch carries on.
"""

from __future__ import annotations

import os
import random
import stat
from pathlib import Path

import av
import pytest

from memo.data.decode import check_readable, index_video, keyframe_times, read_frames_at
from memo.data.synthetic import frame_pixels, write_audio, write_video
from memo.errors import InputError
from memo.score import ScoreOptions, score_videos
from memo.score.writers import read_results

W, H = 64, 48


def _cut(source: Path, target: Path, fraction: float) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * fraction)])
    return target


def _flip(source: Path, target: Path, count: int = 200, seed: int = 1) -> Path:
    data = bytearray(source.read_bytes())
    rng = random.Random(seed)
    for _ in range(count):
        i = rng.randrange(len(data) // 3, 2 * len(data) // 3)
        data[i] ^= 0xFF
    target.write_bytes(bytes(data))
    return target


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    src = tmp_path_factory.mktemp("sources")
    video = dict(fps=20, width=W, height=H)
    good = write_video(root / "good.mp4", "h264", frames=40, **video)
    write_video(root / "CLIP.MP4", "h264", frames=20, seed=2, **video)
    write_video(root / "vidéo de test ✓.mp4", "vp9", frames=20, seed=3, **video)
    write_video(root / "one_frame.mp4", "h264", frames=1, **video)
    write_video(root / "three_frames.webm", "vp8", frames=3, **video)
    write_video(root / "tiny16.mp4", "h264", frames=10, fps=20, width=16, height=16)
    _cut(good, root / "cut30.mp4", 0.3)  # moov at the end: the index is gone
    _cut(good, root / "cut60.mp4", 0.6)
    faststart = write_video(src / "fs.mp4", "h264", frames=40, faststart=True, **video)
    _cut(faststart, root / "cut60_faststart.mp4", 0.6)  # index intact, media cut
    webm = write_video(src / "src.webm", "vp9", frames=40, **video)
    _cut(webm, root / "cut60.webm", 0.6)
    gif = write_video(src / "src.gif", "gif", frames=40, **video)
    _cut(gif, root / "cut60.gif", 0.6)
    _flip(good, root / "bitflip.mp4")
    (root / "empty.mp4").write_bytes(b"")
    (root / "text.mp4").write_text("this is not a video\n" * 20)
    write_audio(root / "audio_aac.mp4", "aac")
    write_audio(root / "audio_opus.webm", "libopus")
    write_audio(root / "audio_with_cover.mp4", "aac", cover=True)  # a music file's cover art is no video
    (root / "x.mp4").mkdir()
    write_video(root / "x.mp4" / "inside.mov", "mov", frames=10, **video)
    os.symlink(root / "deleted.mp4", root / "gone.mp4")
    os.mkfifo(root / "pipe.mp4")  # opening it for reading would wait for a writer forever
    os.symlink("/dev/zero", root / "zero.mp4")  # endless
    (root / "notes.txt").write_text("not a video, and ignored")
    write_video(root / ".hidden.mp4", "h264", frames=10, **video)
    return root


@pytest.fixture(scope="module")
def rows(corpus: Path, framecnn_bundle, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    out = tmp_path_factory.mktemp("out") / "scores.jsonl"
    summary = score_videos(
        ScoreOptions(
            inputs=[str(corpus)], output=out, model=str(framecnn_bundle.path), workers=2, batch_size=8
        )
    )
    result = {os.path.relpath(r["path"], corpus): r for r in read_results(out)}
    assert summary.total == len(result)
    assert summary.failed == sum(r["status"] == "failed" for r in result.values())
    return result


FAILED = {
    "cut30.mp4": "truncated",
    "cut60.mp4": "truncated",
    "empty.mp4": "empty file (0 bytes)",
    "text.mp4": "not a video",
    "audio_aac.mp4": "no video stream (only audio streams)",
    "audio_opus.webm": "no video stream (only audio streams)",
    "audio_with_cover.mp4": "no video stream (only audio streams and a cover picture)",
    "gone.mp4": "dangling symbolic link",
    "pipe.mp4": "not a regular file",
    "zero.mp4": "not a regular file",
}
SCORED_CLEAN = [
    "good.mp4",
    "CLIP.MP4",
    "vidéo de test ✓.mp4",
    "tiny16.mp4",
    os.path.join("x.mp4", "inside.mov"),
]


def test_every_input_has_exactly_one_row(rows: dict[str, dict]) -> None:
    expected = {
        *FAILED,
        *SCORED_CLEAN,
        "one_frame.mp4",
        "three_frames.webm",
        "cut60_faststart.mp4",
        "cut60.webm",
        "cut60.gif",
        "bitflip.mp4",
    }
    assert set(rows) == expected  # no notes.txt, no .hidden.mp4, no row for the x.mp4 folder


@pytest.mark.parametrize("name", sorted(FAILED))
def test_bad_files_fail_with_a_one_line_reason(rows: dict[str, dict], corpus: Path, name: str) -> None:
    row = rows[name]
    assert row["status"] == "failed"
    assert row["score"] is None
    assert "\n" not in row["error"]
    assert str(corpus / name) in row["error"]
    assert FAILED[name] in row["error"]


@pytest.mark.parametrize("name", SCORED_CLEAN)
def test_good_files_are_scored(rows: dict[str, dict], corpus: Path, name: str) -> None:
    row = rows[name]
    assert row["path"] == str(corpus / name)
    assert row["status"] == "ok", row["error"]
    assert 0.0 <= row["score"] <= 1.0
    assert row["frames"] == 7
    assert row["warning"] == "" and row["error"] == ""


@pytest.mark.parametrize(("name", "distinct"), [("one_frame.mp4", 1), ("three_frames.webm", 3)])
def test_short_videos_repeat_frames_and_say_so(rows: dict[str, dict], name: str, distinct: int) -> None:
    row = rows[name]
    assert row["status"] == "ok"
    assert row["frames"] == distinct
    assert f"only {distinct} distinct frame(s) for 7 samples; frames repeated" in row["warning"]


@pytest.mark.parametrize("name", ["cut60_faststart.mp4", "cut60.webm"])
def test_truncated_but_openable_files_are_scored_and_flagged(rows: dict[str, dict], name: str) -> None:
    row = rows[name]
    assert row["status"] == "ok", row["error"]
    assert row["warning"].startswith("truncated: frames end at ")
    assert "stated by the container" in row["warning"]
    assert 0.0 <= row["score"] <= 1.0


def test_truncated_gif_is_scored_and_flagged(rows: dict[str, dict]) -> None:
    row = rows["cut60.gif"]
    assert row["status"] == "ok", row["error"]
    assert "truncated: the GIF ends without its trailer byte" in row["warning"]


def test_bit_flipped_file_is_scored_from_what_decodes_and_flagged(rows: dict[str, dict]) -> None:
    row = rows["bitflip.mp4"]
    assert row["status"] == "ok", row["error"]
    assert "damaged:" in row["warning"] and "decode error(s)" in row["warning"]


def test_check_readable_names_file_and_cause(corpus: Path) -> None:
    cases = {
        corpus / "x.mp4": "is a directory, not a video file",
        corpus / "gone.mp4": "dangling symbolic link",
        corpus / "empty.mp4": "empty file (0 bytes)",
        corpus / "absent.mp4": "no such file",
    }
    for path, cause in cases.items():
        with pytest.raises(InputError) as err:
            check_readable(str(path))
        assert str(err.value).startswith(f"{path}: {cause}")
    check_readable(str(corpus / "good.mp4"))


@pytest.mark.skipif(
    os.geteuid() == 0,
    reason="running as root: root reads a chmod 000 file anyway (and this venv's python is not usable by others)",
)
def test_permission_denied(tmp_path: Path) -> None:
    path = write_video(tmp_path / "locked.mp4", "h264", frames=5, fps=5, width=W, height=H)
    path.chmod(0)
    try:
        with pytest.raises(InputError, match=r"locked\.mp4: permission denied"):
            index_video(str(path))
    finally:
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)


def test_sixteen_pixel_video_decodes_at_its_size(corpus: Path) -> None:
    path = str(corpus / "tiny16.mp4")
    info = index_video(path)
    sample = read_frames_at(path, keyframe_times(info, 7), info)
    assert {image.size for image in sample.images} == {(16, 16)}


def test_raw_elementary_stream_without_timestamps_says_so(tmp_path: Path) -> None:
    path = tmp_path / "raw.h264"
    with av.open(str(path), "w", format="h264") as container:
        stream = container.add_stream("libx264", rate=15)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(frame_pixels(i, W, H), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with pytest.raises(InputError, match=r"raw\.h264: the video packets carry no timestamps"):
        index_video(str(path))
