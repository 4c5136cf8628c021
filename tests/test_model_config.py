"""Each architecture declares its arguments once (memo/models/config.py): the spec, the module,
the builder, ``--model-arg`` checks, a bundle's ``arch_args`` and ``memo models NAME`` all read
its config."""

from __future__ import annotations

import inspect
import json
import subprocess
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from memo.cli import app
from memo.errors import BundleError, InputError
from memo.models.bundle import read_bundle, save_bundle
from memo.models.config import ModelConfig, arg
from memo.models.registry import MODELS, create_model, get_entry, list_models
from memo.trainer.options import parse_model_args
from memo.trainer.video_options import build_spec
from tests.baselinehelp import TINY
from tests.conftest import memo_command, subprocess_env


def _meta_state_keys(name: str, arch_args: dict[str, Any]) -> list[str]:
    entry = get_entry(name)
    profile = entry.profile_args  # m3s: fitted buffers sized as memo models profiles them
    with torch.device("meta"):
        module = create_model(name, **(profile(dict(arch_args)) if profile else arch_args))
    return sorted(module.state_dict())


def test_every_architecture_has_a_config_class() -> None:
    for name in list_models():
        config = get_entry(name).config
        assert issubclass(config, ModelConfig) and config is not ModelConfig, name
        assert config.architecture == name, name
        args = config.arguments()
        assert args and all(a.help for a in args), name


@pytest.mark.parametrize("name", list_models())
def test_the_default_arch_args_round_trip_through_the_config_and_build_the_same_module(name: str) -> None:
    entry = get_entry(name)
    spec = entry.default_spec(**{})
    typed = entry.config.module_args(spec.arch_args)
    if name != "m3s":  # m3s's record lists its optional entries (dropout, heads, ...) too
        assert typed.arch_args() == json.loads(json.dumps(spec.arch_args))
    assert _meta_state_keys(name, typed.arch_args()) == _meta_state_keys(name, spec.arch_args)


@pytest.mark.parametrize("name", [n for n in list_models() if n not in ("m3s", "fusion-mlp")])
def test_a_default_config_writes_the_default_specs_arch_args(name: str) -> None:
    """(m3s and fusion-mlp derive their arch args from the config: tested above by the round trip.)"""
    entry = get_entry(name)
    assert entry.config().arch_args() == entry.default_spec().arch_args


@pytest.mark.parametrize("name", list_models())
def test_spec_functions_declare_no_argument_of_their_own(name: str) -> None:
    """The defaults live in the config only: a spec function takes ``**args`` and nothing else."""
    params = inspect.signature(get_entry(name).default_spec).parameters.values()
    assert [p.kind for p in params] == [inspect.Parameter.VAR_KEYWORD], name


def test_changing_a_config_default_changes_the_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    from memo.models import resnet3d

    wider = dataclass(frozen=True)(
        type("Wider", (resnet3d.ResNet3DConfig,), {"__annotations__": {"width": int}, "width": arg(8, "w")})
    )
    monkeypatch.setattr(resnet3d, "ResNet3DConfig", wider)
    assert resnet3d.resnet3d_spec().arch_args["width"] == 8
    monkeypatch.undo()
    assert resnet3d.resnet3d_spec().arch_args["width"] == 64


def test_a_spec_function_still_takes_keywords() -> None:
    spec = get_entry("resnet3d").default_spec(width=4, layers=(1, 1, 1, 1))
    assert spec.arch_args["width"] == 4 and spec.arch_args["layers"] == [1, 1, 1, 1]
    assert build_spec("resnet3d", parse_model_args(["layers=1,1,1,1"])).arch_args["layers"] == [1, 1, 1, 1]


def test_an_unknown_model_arg_is_refused_with_close_matches_and_the_arguments() -> None:
    with pytest.raises(InputError) as caught:
        build_spec("resnet3d", {"widht": 8})
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("--model-arg: resnet3d has no argument 'widht' (did you mean width?")
    assert "num_frames (int)" in message and "layers (tuple[int, ...])" in message


def test_a_mistyped_model_arg_is_refused_naming_the_argument_the_type_and_the_value() -> None:
    with pytest.raises(
        InputError, match=r"^--model-arg: resnet3d argument 'width' must be int, got 'wide' \(str\)$"
    ):
        build_spec("resnet3d", {"width": "wide"})
    with pytest.raises(InputError, match=r"'layers' must be tuple\[int, \.\.\.\], got \['a', 'b'\]"):
        build_spec("resnet3d", {"layers": ["a", "b"]})
    with pytest.raises(InputError, match=r"'attention' must be bool, got 1 \(int\)"):
        build_spec("semantic-embedding", {"attention": 1})
    assert build_spec("resnet3d", {"fps": 8}).inputs[0].fps == 8.0  # an int is a float
    nested = r"amnetvid argument 'amnet': amnet has no argument 'atn_dim' \(did you mean attn_dim\?"
    with pytest.raises(InputError, match=nested):
        build_spec("amnetvid", {"amnet": {"atn_dim": 16}})


def test_memo_train_refuses_a_mistyped_model_arg_before_any_work(tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text("path,score\na.mp4,0.5\n")
    out = tmp_path / "run"
    done = CliRunner().invoke(
        app,
        ["train", "csv", str(labels), "--model", "resnet3d", "--model-arg", "width=wide", "-o", str(out),
         "--target", "score", "--device", "cpu", "-q"],
    )  # fmt: skip
    assert done.exit_code != 0
    assert "resnet3d argument 'width' must be int, got 'wide' (str)" in " ".join(done.output.split())
    assert not out.exists()


def _tiny_bundle(tmp_path: Path, name: str = "semantic-embedding") -> Path:
    spec = get_entry(name).default_spec(**TINY[name])
    torch.manual_seed(0)
    return save_bundle(tmp_path / "bundle", spec, create_model(name, **spec.arch_args).state_dict()).path


def _rewrite_arch_args(folder: Path, **changes: Any) -> None:
    config = json.loads((folder / "config.json").read_text())
    config["arch_args"] = {**config["arch_args"], **changes}
    (folder / "config.json").write_text(json.dumps(config))


def test_a_config_json_with_a_mistyped_arch_arg_fails_to_load_naming_the_argument(tmp_path: Path) -> None:
    folder = _tiny_bundle(tmp_path)
    assert read_bundle(folder).build_module() is not None
    _rewrite_arch_args(folder, hidden="16")
    with pytest.raises(BundleError) as caught:
        read_bundle(folder)
    message = str(caught.value)
    assert "\n" not in message and "config.json: arch_args: semantic-embedding argument 'hidden'" in message
    assert "must be int, got '16' (str)" in message


@pytest.mark.parametrize(
    ("change", "refusal"),
    [({"hiden": 16}, r"semantic-embedding has no argument 'hiden' \(did you mean hidden"),
     ({"size": 64}, r"'size' shapes the inputs of semantic-embedding, it is not an architecture argument")],
)  # fmt: skip
def test_a_config_json_with_an_unknown_or_input_only_arch_arg_fails_to_load(
    tmp_path: Path, change: dict[str, Any], refusal: str
) -> None:
    folder = _tiny_bundle(tmp_path)
    _rewrite_arch_args(folder, **change)
    with pytest.raises(BundleError, match=refusal):
        read_bundle(folder)


def test_an_m3s_config_json_is_checked_against_its_derived_arch_args(tmp_path: Path) -> None:
    from memo.models.m3s_config import M3SArchArgs

    spec = get_entry("m3s").default_spec()
    typed = get_entry("m3s").config.module_args(spec.arch_args)
    assert isinstance(typed, M3SArchArgs) and typed.modules == ("low", "mid", "high", "similarity")
    with pytest.raises(BundleError, match="m3s argument 'heads' must be int, got 'two'"):
        get_entry("m3s").config.module_args({**spec.arch_args, "heads": "two"})
    with pytest.raises(BundleError, match="m3s needs argument 'similarity'"):
        get_entry("m3s").config.module_args({k: v for k, v in spec.arch_args.items() if k != "similarity"})


def test_an_old_bundle_with_fewer_arch_args_loads_with_the_defaults(tmp_path: Path) -> None:
    """Bundles written before the configs listed only the arguments given (amnet: trunk and size)."""
    spec = get_entry("amnet").default_spec(trunk="small", width=4, size=32, attn_dim=16, hidden=16)
    module = create_model("amnet", **spec.arch_args)
    old = replace(spec, arch_args={"trunk": "small", "size": 32, "width": 4, "attn_dim": 16, "hidden": 16})
    bundle = read_bundle(save_bundle(tmp_path / "old-amnet", old, module.state_dict()).path)
    assert sorted(bundle.build_module().state_dict()) == sorted(module.state_dict())


def test_a_model_registered_with_a_config_lists_it_and_checks_its_args() -> None:
    @dataclass(frozen=True)
    class Config(ModelConfig):
        architecture = "test-config-only"

        gain: float = arg(1.0, "a gain")

    def spec(**args: Any) -> Any:
        return get_entry("framecnn").default_spec()

    from memo.models.registry import register_model

    register_model("test-config-only", spec=spec, config=Config)(lambda **a: torch.nn.Identity())
    try:
        assert [a.name for a in get_entry("test-config-only").config.arguments()] == ["gain"]
        with pytest.raises(BundleError, match="'gain' must be float, got True"):
            Config.from_args({"gain": True})
        assert Config.from_args({"gain": 2}).gain == 2.0
    finally:
        MODELS.remove("test-config-only")


def test_memo_models_name_lists_the_arguments() -> None:
    done = subprocess.run(
        [*memo_command(), "models", "resnet3d", "--json"],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    args = {a["name"]: a for a in data["arguments"]}
    assert data["name"] == "resnet3d" and data["params"] > 0
    assert args["num_frames"]["type"] == "int" and args["num_frames"]["default"] == 16
    assert args["num_frames"]["input"] is True and args["width"]["input"] is False
    assert [f.name for f in fields(get_entry("resnet3d").config)] == list(args)
    assert args["layers"]["default"] == [2, 2, 2, 2] and args["layers"]["type"] == "tuple[int, ...]"
    table = CliRunner().invoke(app, ["models", "resnet3d"], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "num_frames" in table.output and "input only" in table.output
    wrong = CliRunner().invoke(app, ["models", "resnet3e"])
    assert wrong.exit_code == 2 and "did you mean resnet3d" in wrong.output
