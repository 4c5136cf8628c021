"""memo.fsio: every atomic write keeps the old file on failure, leaves no litter, and gives
the permissions a plain ``open()`` / ``mkdir()`` would (umask applied)."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from memo.fsio import (
    atomic_dir,
    atomic_open,
    atomic_path,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    current_umask,
)


@pytest.fixture(params=[0o022, 0o077])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def only(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_current_umask_reads_without_changing_it(umask: int) -> None:
    assert current_umask() == umask
    assert current_umask() == umask


def test_saved_bundle_has_the_permissions_of_a_normal_mkdir_and_open(tmp_path: Path, umask: int) -> None:
    import torch

    from memo.models.bundle import read_bundle, save_bundle
    from memo.models.registry import create_model
    from memo.models.tiny import framecnn_spec

    spec = framecnn_spec(size=16).with_(arch_args={"width": 4})
    bundle = save_bundle(tmp_path / "b", spec, create_model("framecnn", width=4).state_dict())
    assert mode(bundle.path) == 0o777 & ~umask  # 0755 with umask 022, 0700 with 077
    for name in ("config.json", "weights.safetensors"):
        assert mode(bundle.path / name) == 0o666 & ~umask  # 0644 / 0600
    assert only(tmp_path) == ["b"]
    # Overwriting swaps the folder in place and leaves nothing beside it.
    save_bundle(tmp_path / "b", spec, {k: torch.zeros_like(v) for k, v in bundle.state_dict().items()})
    assert only(tmp_path) == ["b"] and mode(tmp_path / "b") == 0o777 & ~umask
    assert all(float(v.abs().sum()) == 0 for v in read_bundle(tmp_path / "b").state_dict().values())


def test_each_file_variant_writes_with_umask_permissions(tmp_path: Path, umask: int) -> None:
    want = 0o666 & ~umask
    atomic_write_bytes(tmp_path / "a.bin", b"\x00\x01")
    atomic_write_text(tmp_path / "b.txt", "héllo\n")
    atomic_write_json(tmp_path / "sub" / "c.json", {"x": [1, 2]})
    with atomic_open(tmp_path / "d.csv", "w", newline="") as handle:
        handle.write("a,b\r\n")
    with atomic_path(tmp_path / "e.npy") as tmp:
        np.save(tmp, np.arange(3))  # a writer that wants a file name
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "b.txt").read_text(encoding="utf-8") == "héllo\n"
    assert json.loads((tmp_path / "sub" / "c.json").read_text()) == {"x": [1, 2]}
    assert (tmp_path / "d.csv").read_bytes() == b"a,b\r\n"
    assert np.load(tmp_path / "e.npy").tolist() == [0, 1, 2]
    for name in ("a.bin", "b.txt", "sub/c.json", "d.csv", "e.npy"):
        assert mode(tmp_path / name) == want, name
    assert only(tmp_path) == ["a.bin", "b.txt", "d.csv", "e.npy", "sub"]
    assert only(tmp_path / "sub") == ["c.json"]


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_directory_variant_replaces_a_folder_with_umask_permissions(
    tmp_path: Path, umask: int, exchange: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not exchange:  # a platform or file system without an atomic exchange
        monkeypatch.setattr("memo.fsio._exchange", lambda a, b: False)
    target = tmp_path / "enc"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with atomic_dir(target) as tmp:
        (tmp / "inner").mkdir()
        (tmp / "inner" / "new.txt").write_text("new")
    assert only(target) == ["inner"] and (target / "inner" / "new.txt").read_text() == "new"
    assert mode(target) == 0o777 & ~umask
    assert only(tmp_path) == ["enc"]


class Boom(Exception):
    pass


def test_an_exception_mid_write_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "keep.json"
    atomic_write_json(target, {"v": 1})
    with pytest.raises(Boom), atomic_open(target) as handle:
        handle.write('{"v": 2, "half')
        raise Boom
    with pytest.raises(TypeError):  # not serialisable: fails before anything is replaced
        atomic_write_json(target, {"v": object()})
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_text("partial")
        raise KeyboardInterrupt
    assert json.loads(target.read_text()) == {"v": 1}
    assert only(tmp_path) == ["keep.json"]


def test_an_exception_while_building_a_folder_keeps_the_old_one(tmp_path: Path) -> None:
    target = tmp_path / "bundle"
    with atomic_dir(target) as tmp:
        (tmp / "config.json").write_text("{}")
    with pytest.raises(Boom), atomic_dir(target) as tmp:
        (tmp / "config.json").write_text("half")
        raise Boom
    assert (target / "config.json").read_text() == "{}"
    assert only(tmp_path) == ["bundle"]
