"""Checks of everything that does not depend on the individual video, run before any work.

An unknown backend, a GPU that is not there, an ONNX file that was never exported, a
bundle that needs captions and got none, an output folder that cannot be written, or two
options that contradict each other: each is one line and exit status 2, found before a
video is decoded and before the output file (or its sidecar) is created or touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from memo.errors import BundleError
from memo.models.spec import FROM_VIDEO, ModelSpec
from memo.score.checks import check_numbers, check_output


def check_side_inputs(spec: ModelSpec, providers: Mapping[str, Any]) -> None:
    """A bundle with a text / features input needs ``--text`` / ``--features``: say so once."""
    flags = {"text": "--text CAPTIONS.csv", "features": "--features PATH"}
    for item in spec.inputs:
        if item.stream not in FROM_VIDEO and item.stream not in providers:
            raise BundleError(
                f"model {spec.name!r} needs a {item.stream} input ({item.name!r}): "
                f"give it with {flags.get(item.stream, '--' + item.stream)}"
            )


__all__ = ["check_numbers", "check_output", "check_side_inputs"]
