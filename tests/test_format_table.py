"""The format table (memo/formats.py) is the only place formats are described.

`memo export`'s format and precision flags are generated from it, and bench's matrix and
artifact names come from it: a format added to the table shows up in the CLI.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.testing import CliRunner

from memo.cli import app
from memo.cli.export import register
from memo.formats import BENCH_BACKENDS, DEFAULT_PRECISION, FORMATS, PRECISIONS, Format, bench_backends

SHARED_FLAGS = {
    "--opset",
    "--quiet",
    "--batch",
    "--simplify",
    "--workspace-gb",
    "--force",
    "--videos",
    "--calibration",
    "--calibration-method",
    "--text",
    "--id-column",
    "--text-column",
    "--features",
    "--feature-rows",
    "--json",
    "--help",
}


def _flags(command: Any) -> set[str]:
    return {opt for param in command.params for opt in param.opts if opt[:2] == "--"}


def _export_command(target: typer.Typer) -> Any:
    return typer.main.get_command(target).commands["export"]


def test_export_flags_are_the_table_and_the_precisions():
    generated = _flags(_export_command(app)) - SHARED_FLAGS
    expected = {f.flag for f in FORMATS.values()} | {f"--{p}" for p in PRECISIONS if p != DEFAULT_PRECISION}
    assert generated == expected == {"--onnx", "--trt", "--fp16", "--int8"}


def _fake_app(formats: dict[str, Format]) -> typer.Typer:
    fake = typer.Typer()

    @fake.callback()
    def main() -> None:  # a callback keeps `export` a subcommand
        pass

    register(fake, formats)
    return fake


def test_a_format_added_to_the_table_gets_its_flag_and_help():
    tflite = Format(
        name="tflite",
        backend="tflite",
        artifacts={"fp32": "model.tflite", "fp16": "model.fp16.tflite"},
        needs_gpu=False,
        extra="tflite",
        description="TensorFlow Lite flat buffer",
    )
    table = {**FORMATS, "tflite": tflite}
    fake = _fake_app(table)
    assert "--tflite" in _flags(_export_command(fake))
    result = CliRunner().invoke(fake, ["export", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert (
        "--tflite" in result.output and "Writes model.tflite (model.fp16.tflite with --fp16)" in result.output
    )
    assert bench_backends(table) == (*BENCH_BACKENDS, "tflite")
    # The flag is routed to the export runner, which has no export step for it: a usage error.
    run = CliRunner().invoke(fake, ["export", "some-bundle", "--tflite"])
    assert run.exit_code == 2 and "unknown format(s) ['tflite']" in " ".join(run.output.split())


def test_flag_help_and_hints_come_from_the_row():
    onnx = FORMATS["onnx"]
    assert onnx.flag_help().endswith(
        "Writes model.onnx (model.fp16.onnx with --fp16, model.int8.onnx with --int8)."
    )
    assert FORMATS["trt"].flag_help().endswith("Needs a CUDA GPU.")


def test_every_format_is_loaded_by_a_registered_backend():
    from memo.runtime.base import backend_names

    assert {f.backend for f in FORMATS.values()} | {BENCH_BACKENDS[0]} <= set(backend_names())
