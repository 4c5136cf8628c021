"""The default model must reproduce the ``resmem`` package's own forward pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from memo.data.decode import index_video, keyframe_times, read_frames_at
from memo.data.preprocess import preprocess_frames
from memo.runtime import load_session
from memo.score import ScoreOptions, score_videos
from memo.score.writers import read_results

from .conftest import SHARED_VIDEOS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reference():
    """The resmem package's own model and transform (built once for the module)."""
    resmem = pytest.importorskip("resmem")
    return resmem, resmem.ResMem(pretrained=True).eval()


def _frames(tmp_path, count: int):
    path = SHARED_VIDEOS / "bigbuckbunny.mp4"
    if not path.is_file():
        from memo.data.synthetic import write_video

        path = write_video(tmp_path / "clip.mp4", "h264", frames=40, width=320, height=180)
    info = index_video(str(path))
    return path, read_frames_at(str(path), keyframe_times(info, count), info)


def test_bundle_weights_are_the_package_weights(resmem_bundle):
    resmem = pytest.importorskip("resmem")
    from pathlib import Path

    package = torch.load(Path(resmem.__file__).parent / "model.pt", map_location="cpu", weights_only=True)
    ours = resmem_bundle.state_dict()
    assert set(ours) == set(package)
    for name in ("features.conv1.weight", "fc6.weight", "fc12.bias"):
        assert torch.equal(ours[name], package[name])
    assert resmem_bundle.spec.licence and "non" in resmem_bundle.spec.licence.lower()


def test_forward_matches_resmem_package(resmem_bundle, reference, tmp_path):
    resmem, reference = reference
    _, sample = _frames(tmp_path, 5)
    with torch.inference_mode():
        expected_input = torch.stack([resmem.transformer(image) for image in sample.images])
        expected = reference(expected_input).squeeze(1).numpy()

    spec = resmem_bundle.spec.inputs[0]
    ours_input = preprocess_frames(sample.images, spec.preprocess)
    np.testing.assert_array_equal(ours_input, expected_input.numpy())  # preprocessing is identical
    session = load_session(resmem_bundle, "torch", "cpu")
    got = session.run({"frames": ours_input})["score"]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    assert np.all((got > 0) & (got < 1))


def test_memo_score_is_mean_of_package_frame_scores(resmem_bundle, reference, tmp_path):
    resmem, reference = reference
    path, sample = _frames(tmp_path, 3)
    out = tmp_path / "scores.jsonl"
    options = ScoreOptions(
        inputs=[str(path)],
        output=out,
        model=str(resmem_bundle.path),
        device="cpu",
        num_frames=3,
        per_frame=True,
    )
    summary = score_videos(options)
    assert summary.scored == 1 and summary.failed == 0
    (row,) = read_results(out)
    with torch.inference_mode():
        frame_scores = (
            reference(torch.stack([resmem.transformer(i) for i in sample.images])).squeeze(1).numpy()
        )
    np.testing.assert_allclose(row["frame_score"], frame_scores, atol=1e-5)
    assert row["score"] == pytest.approx(float(frame_scores.mean()), abs=1e-6)
    assert row["model"] == "resmem" and row["status"] == "ok" and row["frames"] == 3
