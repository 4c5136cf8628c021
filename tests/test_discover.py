"""The discovery rule of memo.data.discover (see its module docstring)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from memo.data.discover import DEFAULT_EXTENSIONS, discover_videos, normalise_extensions
from memo.errors import InputError


def _touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "lib"
    for name in [
        "a.mp4",
        "CLIP.MP4",
        "b.WebM",
        "vidéo de test ✓.mp4",
        "notes.txt",
        "mp4",  # no extension at all
        ".hidden.mp4",
        "sub/c.mkv",
        "sub/deeper/d.avi",
        ".cache/e.mp4",  # hidden directory
        "x.mp4/inside.mov",  # a directory that looks like a video
    ]:
        _touch(root / name)
    os.symlink(root / "missing.mp4", root / "gone.mp4")
    os.symlink(root / "a.mp4", root / "link_to_a.mp4")
    os.symlink(root / "sub", root / "sub_link")  # same directory twice
    os.symlink(root, root / "sub" / "loop")  # a cycle
    return root


def _names(paths: list[str], root: Path) -> list[str]:
    return [os.path.relpath(p, root) for p in paths]


def test_walks_recursively_with_the_documented_rule(tree: Path) -> None:
    found = discover_videos([tree])
    names = _names(found, tree)
    assert "a.mp4" in names and "CLIP.MP4" in names and "b.WebM" in names  # case-insensitive
    assert "vidéo de test ✓.mp4" in names
    assert os.path.join("x.mp4", "inside.mov") in names  # a directory is walked, whatever its name
    assert "x.mp4" not in names
    assert "gone.mp4" in names  # kept so that its row says why it failed
    assert "link_to_a.mp4" in names
    assert "notes.txt" not in names and "mp4" not in names
    assert not any(part.startswith(".") for n in names for part in n.split(os.sep))
    # Both sub/ and its link reach the same directory: walked once; the cycle ends.
    assert sum(n.endswith("c.mkv") for n in names) == 1
    assert sum(n.endswith("d.avi") for n in names) == 1
    assert found == sorted(found) and len(found) == len(set(found))


def test_named_files_are_inputs_whatever_their_extension(tree: Path) -> None:
    found = discover_videos([tree / "notes.txt", tree / "a.mp4", tree / "gone.mp4"])
    assert _names(found, tree) == ["a.mp4", "gone.mp4", "notes.txt"]


def test_duplicates_are_removed(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    once = discover_videos([tree])
    assert discover_videos([tree, tree / "a.mp4", tree]) == once
    monkeypatch.chdir(tree.parent)
    relative = discover_videos([f"./{tree.name}/", tree.name, str(tree / "a.mp4")])
    assert len(relative) == len(once)
    assert relative[0].startswith(tree.name + os.sep)


def test_extension_set_is_configurable(tree: Path) -> None:
    assert _names(discover_videos([tree], [".MKV", "avi "]), tree) == [
        os.path.join("sub", "c.mkv"),
        os.path.join("sub", "deeper", "d.avi"),
    ]
    assert normalise_extensions([".MP4", " webm", ""]) == {"mp4", "webm"}
    assert {"mp4", "webm", "mkv", "mov", "avi", "gif"} <= set(DEFAULT_EXTENSIONS)


def test_missing_command_line_path_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nowhere/x\.mp4: no such file or directory"):
        discover_videos([tmp_path / "nowhere" / "x.mp4"])


def test_empty_folder_gives_nothing(tmp_path: Path) -> None:
    assert discover_videos([tmp_path]) == []


def test_a_labelled_id_finds_its_video_with_any_extension_score_discovers(tmp_path: Path) -> None:
    from memo.data.datasets import _find_video

    (tmp_path / "clip7.mpg").write_bytes(b"")
    (tmp_path / "clip8.webm").write_bytes(b"")
    assert _find_video(tmp_path, ["clip7"]) == str(tmp_path / "clip7.mpg")  # one list: discover's
    assert _find_video(tmp_path, ["clip8"]) == str(tmp_path / "clip8.webm")
    assert _find_video(tmp_path, ["clip9"]) is None
