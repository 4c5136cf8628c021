"""Run checkpoints: ``checkpoint/state.json`` + one safetensors file, written every epoch.

The safetensors file (written to a temporary name, then ``os.replace``) holds the model,
the best weights so far, the optimizer's moment tensors and the torch RNG states; the
JSON (written atomically *after* it, so it is the commit point) names that file and holds
the rest: finished phases with their predictions, the fit state and the optimizer's
hyper-parameters. Nothing is unpickled on resume.

In a run over several processes every rank keeps the same state in memory and only the main
rank writes (``writer=False`` elsewhere). Nothing in it depends on the number of processes, so
a run resumes on any number.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from memo.errors import MemoError
from memo.fsio import atomic_path, atomic_write_json
from memo.trainer.engine import FitState, load_optimizer, optimizer_tensors

log = logging.getLogger(__name__)

STATE = "state.json"


class Checkpoint:
    def __init__(self, folder: Path, writer: bool = True) -> None:
        self.folder = folder
        self.writer = writer  # False on the ranks of a distributed run other than the main one
        self.data: dict[str, Any] = {"completed": {}, "current": None}

    @property
    def path(self) -> Path:
        return self.folder / STATE

    def exists(self) -> bool:
        return self.path.is_file()

    def load(self) -> None:
        try:
            self.data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise MemoError(f"{self.path}: unreadable checkpoint state ({exc})") from exc

    def write(self) -> None:
        if self.writer:
            atomic_write_json(self.path, self.data)

    # ---------------------------------------------------------------- finished phases

    def completed(self, phase: str) -> dict[str, Any] | None:
        return self.data["completed"].get(phase)

    def complete(self, phase: str, result: dict[str, Any]) -> None:
        self.data["completed"][phase] = result
        old = self.data.get("current")
        self.data["current"] = None
        self.write()
        if old and old.get("weights") and self.writer:
            (self.folder / old["weights"]).unlink(missing_ok=True)

    # ---------------------------------------------------------------- the phase in progress

    def save_epoch(
        self,
        phase: str,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        state: FitState,
        best: dict[str, torch.Tensor],
        generator: torch.Generator,
    ) -> None:
        name = f"{phase.replace('/', '-')}-epoch{state.epoch:04d}.safetensors"
        optim, optim_meta = optimizer_tensors(optimizer)
        if self.writer:
            self._save_tensors(name, model, optim, best, generator)
        old = self.data.get("current")
        self.data["current"] = {
            "phase": phase,
            "weights": name,
            "optimizer": optim_meta,
            "fit": {
                "epoch": state.epoch,
                "best_score": state.best_score,
                "best_epoch": state.best_epoch,
                "bad_epochs": state.bad_epochs,
                "history": state.history,
                "stopped": state.stopped,
            },
        }
        self.write()
        if old and old.get("weights") and old["weights"] != name and self.writer:
            (self.folder / old["weights"]).unlink(missing_ok=True)

    def _save_tensors(
        self, name: str, model: nn.Module, optim: dict[str, torch.Tensor], best: dict[str, torch.Tensor],
        generator: torch.Generator,
    ) -> None:  # fmt: skip
        tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        tensors.update({f"best.{k}": v.detach().cpu().contiguous() for k, v in best.items()})
        tensors.update(optim)
        tensors["rng.torch"] = torch.get_rng_state()
        tensors["rng.generator"] = generator.get_state()
        if torch.cuda.is_available():
            tensors["rng.cuda"] = torch.cuda.get_rng_state()
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.folder / name) as tmp:
            save_file(tensors, str(tmp))

    def restore(
        self, phase: str, model: nn.Module, optimizer: torch.optim.Optimizer, generator: torch.Generator
    ) -> tuple[FitState, dict[str, torch.Tensor]] | None:
        """Load the in-progress phase into ``model``/``optimizer``/RNGs; ``None`` when it is another phase."""
        current = self.data.get("current")
        if not current or current["phase"] != phase:
            return None
        path = self.folder / current["weights"]
        try:
            tensors = load_file(str(path))
        except Exception as exc:
            raise MemoError(f"{path}: unreadable checkpoint weights ({exc})") from exc
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        best = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}
        load_optimizer(optimizer, tensors, current["optimizer"])
        torch.set_rng_state(tensors["rng.torch"])
        generator.set_state(tensors["rng.generator"])
        if "rng.cuda" in tensors and torch.cuda.is_available():
            torch.cuda.set_rng_state(tensors["rng.cuda"])
        fit = current["fit"]
        state = FitState(
            epoch=fit["epoch"],
            best_score=fit["best_score"],
            best_epoch=fit["best_epoch"],
            bad_epochs=fit["bad_epochs"],
            history=fit["history"],
            stopped=fit["stopped"],
        )
        log.info("resuming %s after epoch %d", phase, state.epoch)
        return state, best
