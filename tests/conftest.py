"""Shared fixtures: generated videos, real files from ../shared, tiny bundles."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SHARED_VIDEOS = SHARED / "videos"
SHARED_DATA = SHARED / "data"


def pytest_configure(config: pytest.Config) -> None:
    """One temporary ``$MEMO_HOME`` for the whole session (subprocesses inherit it): the suite
    never writes bundles or caches into the user's own. Shared by every test, because the
    ResMem bundle (527 MB) is built into it on first use."""
    home = Path(tempfile.mkdtemp(prefix="memo-home-"))
    config.stash[_HOME] = home
    os.environ["MEMO_HOME"] = str(home)


def pytest_unconfigure(config: pytest.Config) -> None:
    home = config.stash.get(_HOME, None)
    if home is not None:
        shutil.rmtree(home, ignore_errors=True)


_HOME = pytest.StashKey[Path]()


def shared_video(name: str) -> Path:
    path = SHARED_VIDEOS / name
    if not path.is_file():
        pytest.skip(f"real video {name} not present in ../shared/videos")
    return path


def shared_data(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{'/'.join(parts)} not present in ../shared/data")
    return path


@pytest.fixture(autouse=True)
def _restore_environment():  # type: ignore[no-untyped-def]
    """Each test sees the environment the suite started with: an in-process CLI run with
    ``--quiet`` sets ``TQDM_DISABLE`` and friends (as it must for the libraries it loads), which
    would otherwise leak into later tests and the subprocesses they start."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def memo_command() -> list[str]:
    """Run the CLI of *this* checkout in a subprocess."""
    return [sys.executable, "-m", "memo"]


def subprocess_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def framecnn_bundle(tmp_path_factory: pytest.TempPathFactory):
    """A small real bundle (random weights, fixed seed) for fast pipeline tests."""
    import torch

    from memo.models.bundle import save_bundle
    from memo.models.registry import create_model
    from memo.models.tiny import framecnn_spec

    torch.manual_seed(0)
    module = create_model("framecnn", width=8)
    spec = framecnn_spec(size=32).with_(arch_args={"width": 8})
    return save_bundle(tmp_path_factory.mktemp("bundles") / "framecnn", spec, module.state_dict())


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from memo.data.synthetic import write_video

    folder = tmp_path_factory.mktemp("videos")
    for i, kind in enumerate(["h264", "vp9", "mov", "mpeg4", "h264", "vp8"]):
        from memo.data.synthetic import KINDS

        write_video(
            folder / f"v{i}_{kind}{KINDS[kind][0]}", kind, frames=30, fps=15, width=64, height=48, seed=i
        )
    return folder


@pytest.fixture(scope="session")
def resmem_bundle():  # type: ignore[no-untyped-def]
    """The named 'resmem' bundle, built from the installed package into the session's MEMO_HOME."""
    pytest.importorskip("resmem", reason="the resmem package (default model) is not installed")
    from memo.models.named import resolve_model

    bundle = resolve_model("resmem")
    assert bundle.path.is_relative_to(Path(os.environ["MEMO_HOME"]))
    return bundle
