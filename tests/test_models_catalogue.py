"""`memo models` and its catalogue: one profiled row per architecture, on the meta device."""

from __future__ import annotations

import json
import subprocess

import torch

from memo.models.catalogue import catalogue, catalogue_row, describe_inputs, markdown_table
from memo.models.profile import gflops_per_video
from memo.models.registry import create_model, get_entry, list_models
from tests.conftest import memo_command, subprocess_env


def test_every_architecture_has_a_profiled_row() -> None:
    rows = {r.name: r for r in catalogue()}
    assert sorted(rows) == list_models()
    for row in rows.values():
        assert row.params and row.params > 0, row
        assert row.gflops_per_video and row.gflops_per_video > 0, row
        assert row.pretrained != "not stated", row.name
        assert row.paper and row.inputs
    assert rows["resmem"].offline_bundle == "resmem"
    assert "frame-averaged image-memorability baseline" in rows["resmem"].note
    assert [r.name for r in rows.values() if r.offline_bundle] == ["resmem"]
    assert rows["vmemnet"].inputs == "keyframes×7 224² + clip×16@8fps 112²"
    assert "1000-video bank" in rows["m3s"].note
    assert "| `vmemnet` |" in markdown_table(list(rows.values()))


def test_meta_count_equals_a_model_built_on_the_cpu() -> None:
    spec = get_entry("resnet3d").default_spec(width=8, layers=(1, 1, 1, 1), num_frames=4, size=32)
    module = create_model("resnet3d", **spec.arch_args)
    assert catalogue_row("resnet3d").params == sum(
        p.numel()
        for p in create_model("resnet3d", **get_entry("resnet3d").default_spec().arch_args).parameters()
    )
    assert gflops_per_video(spec, module) > 0


def test_m3s_lowlevel_input_is_profiled_with_its_own_shape() -> None:
    spec = get_entry("m3s").default_spec()
    assert describe_inputs(spec).startswith("lowlevel×8 (")
    row = catalogue_row("m3s")
    assert row.gflops_per_video is not None and "not profiled" not in row.note


def test_memo_models_json_on_stdout() -> None:
    done = subprocess.run(
        [*memo_command(), "models", "--json"],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    names = [r["name"] for r in data["architectures"]]
    assert "vmemnet" in names and "resmem" in names
    assert data["named"] == ["resmem"]
    torch.testing.assert_close(
        next(r for r in data["architectures"] if r["name"] == "resmem")["params"], 131688809
    )
