"""Training helpers: class weights, layer freezing, thread tuning, validation numbers, checkpoints, stages."""

from __future__ import annotations

import json
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ml.engine.pretrained import PretrainedReport


def class_weights(counts: np.ndarray, power: float) -> torch.Tensor:
    """(1 / frequency) ** power, scaled so the sample-weighted mean is 1."""
    counts = np.maximum(counts.astype(np.float64), 1.0)
    weights = (counts.sum() / counts) ** power
    weights = weights / (weights * counts).sum() * counts.sum()
    return torch.tensor(weights, dtype=torch.float32)


def freeze_early_layers(model: nn.Module, blocks: int) -> list[str]:
    """Freeze the stem and the first ``blocks`` stages of an EfficientNet-style model.

    The early, high-resolution stages cost most of the backward pass on a CPU and their
    ImageNet edge/texture filters transfer as they are.
    """
    if blocks <= 0 or not hasattr(model, "blocks") or not hasattr(model, "conv_stem"):
        return []
    frozen = []
    modules = [("conv_stem", model.conv_stem), ("bn1", model.bn1)]
    modules += [(f"blocks.{i}", model.blocks[i]) for i in range(min(blocks, len(model.blocks)))]
    for name, module in modules:
        for parameter in module.parameters():
            parameter.requires_grad_(False)
        frozen.append(name)
    return frozen


class ThreadTuner:
    """Switch between 1 and N torch threads by measured step time.

    On a shared machine two threads that must meet at every operator's barrier can be slower
    than one when another process holds a core; the faster setting is re-probed every
    ``every`` steps for ``probe`` steps.
    """

    def __init__(self, max_threads: int, every: int = 60, probe: int = 6) -> None:
        self.max_threads = max(1, max_threads)
        self.every, self.probe = every, probe
        self.current = self.max_threads
        self.recent: list[float] = []
        self.probing: list[float] | None = None
        self.steps = 0
        torch.set_num_threads(self.current)

    def record(self, seconds: float) -> None:
        if self.max_threads == 1:
            return
        self.steps += 1
        if self.probing is not None:
            self.probing.append(seconds)
            if len(self.probing) > self.probe:
                probe_time = float(np.median(self.probing[1:]))  # the first step after a switch is slow
                base_time = float(np.median(self.recent[-self.probe :])) if self.recent else float("inf")
                if probe_time >= base_time:
                    self.current = self._other()
                    torch.set_num_threads(self.current)
                self.probing, self.recent = None, []
            return
        self.recent.append(seconds)
        if self.steps % self.every == 0:
            self.current = self._other()
            torch.set_num_threads(self.current)
            self.probing = []

    def _other(self) -> int:
        return 1 if self.current == self.max_threads else self.max_threads


def quick_metrics(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Validation numbers logged every epoch (scikit-learn's, through ``classification_metrics``)."""
    from ml.engine.evaluation.metrics import classification_metrics

    log_probs = torch.log_softmax(torch.from_numpy(logits), dim=1)
    loss = float(F.nll_loss(log_probs, torch.from_numpy(labels)).item()) if len(labels) else float("nan")
    m = classification_metrics(labels, log_probs.exp().numpy())
    return {
        "val_loss": loss,
        "val_accuracy": m["accuracy"],
        "val_balanced_accuracy": m["balanced_accuracy"],
        "val_mel_sensitivity": m["melanoma"]["sensitivity"],
        "val_auc_macro": m["auc_macro"],
    }


def weighted_soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against soft targets (label smoothing, mixup, distillation), class-weighted.

    Each sample's loss is weighted by its target's class weight and the batch mean is divided by
    the mean weight, so with hard targets this equals ``nn.CrossEntropyLoss(weight=weights)``.
    """
    per_sample = -(targets * F.log_softmax(logits.float(), dim=1)).sum(dim=1)
    sample_weights = targets @ weights
    return (per_sample * sample_weights).sum() / sample_weights.sum()


def smooth_one_hot(labels: torch.Tensor, classes: int, smoothing: float) -> torch.Tensor:
    """One-hot targets with ``smoothing`` spread evenly over all classes (as ``label_smoothing`` does)."""
    off = smoothing / classes
    return F.one_hot(labels, classes).float() * (1.0 - smoothing) + off


class Checkpoint:
    """Everything needed to continue a run after its last finished epoch (``runs/NAME/last.pt``)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def exists(self) -> bool:
        return self.path.is_file()

    def save(self, **state: Any) -> None:
        # Written beside and renamed, so a run killed mid-write leaves the previous checkpoint whole.
        partial = self.path.with_suffix(".partial")
        torch.save(state, partial)
        partial.replace(self.path)

    def load(self, device: torch.device) -> dict[str, Any]:
        return torch.load(self.path, map_location=device, weights_only=False)


class TrainingRun:
    """The bookkeeping a training run keeps across epochs and sessions, whatever it trains.

    The best epoch (by a validation score) and its EMA weights in ``best.pt``, the history in
    ``log.jsonl``, early-stopping staleness, the wall-clock budget, and the checkpoint
    ``last.pt`` that ``--resume`` continues from.
    """

    def __init__(self, run_dir: Path, *, command: str, started_at: str, budget_min: float | None) -> None:
        self.run_dir = run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = run_dir / "log.jsonl"
        self.checkpoint = Checkpoint(run_dir / "last.pt")
        self.command, self.started_at = command, started_at
        self.budget_s = budget_min * 60 if budget_min else None
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] = {"score": -1.0, "epoch": -1, "metrics": {}}
        self.stale = self.step = self.start_epoch = 0
        self.loop_start = time.time()
        self.stopped = "epochs"

    def start(self, resume: bool, device: torch.device, **parts: Any) -> None:
        """Continue from ``last.pt`` (``parts``: model, ema, optimizer, scheduler, generator) or start afresh."""
        if resume and self.checkpoint.exists():
            state = self.checkpoint.load(device)
            parts["model"].load_state_dict(state["model"])
            parts["ema"].module.load_state_dict(state["ema"])
            if "scheduler" in state:
                parts["optimizer"].load_state_dict(state["optimizer"])
                parts["scheduler"].load_state_dict(state["scheduler"])
            else:
                # A checkpoint of the earlier hand-written loop: its AdamW grouped the parameters
                # in another order and it kept no schedule (a function of the step, as timm's is).
                # The weights, EMA, step and history carry over; the optimizer's moments restart.
                print("resuming an earlier-format checkpoint: optimizer moments start afresh", flush=True)
            parts["generator"].set_state(state["generator"])
            self.start_epoch, self.step = state["epoch"] + 1, state["step"]
            self.best, self.history, self.stale = state["best"], state["history"], state["stale"]
            self.command = state.get("config", {}).get("command") or self.command
            self.started_at = state.get("started_at", self.started_at)
            print(f"resumed from {self.checkpoint.path} after epoch {self.start_epoch}", flush=True)
        elif self.log_path.exists():
            self.log_path.unlink()
        self.loop_start = time.time() - self.elapsed_before

    @property
    def elapsed_before(self) -> float:
        return float(self.history[-1].get("elapsed_seconds", 0.0)) if self.history else 0.0

    def elapsed(self) -> float:
        return time.time() - self.loop_start

    def time_progress(self) -> float:
        return 0.0 if self.budget_s is None else self.elapsed() / self.budget_s

    def should_stop(self, total_steps: int, patience: int) -> bool:
        """Before an epoch: out of time, out of steps or stale for ``patience`` epochs (sets ``stopped``)."""
        if self.time_progress() >= 1.0:
            self.stopped = "time_budget"
        elif self.step >= total_steps:
            self.stopped = "max_steps"
        elif self.stale >= patience:
            self.stopped = "early_stopping"
        return self.stopped != "epochs"

    def record(self, entry: dict[str, Any], score: float, ema_module: nn.Module) -> None:
        """An epoch's validation entry: keep the best EMA weights, update staleness, append to the log."""
        entry["elapsed_seconds"] = round(self.elapsed(), 1)
        if score > self.best["score"]:
            self.best = {"score": score, "epoch": entry["epoch"], "metrics": entry}
            torch.save(ema_module.state_dict(), self.run_dir / "best.pt")
            self.stale = 0
        else:
            self.stale += 1
        entry["best_epoch"] = self.best["epoch"]
        self.history.append(entry)
        with self.log_path.open("a") as handle:
            handle.write(json.dumps(entry) + "\n")

    def save(self, epoch: int, config: dict[str, Any], **parts: Any) -> None:
        """The checkpoint after ``epoch`` (``parts``: model, ema, optimizer, scheduler, generator)."""
        self.checkpoint.save(
            model=parts["model"].state_dict(),
            ema=parts["ema"].module.state_dict(),
            optimizer=parts["optimizer"].state_dict(),
            scheduler=parts["scheduler"].state_dict(),
            generator=parts["generator"].get_state(),
            epoch=epoch,
            step=self.step,
            best=self.best,
            history=self.history,
            stale=self.stale,
            config={**config, "command": self.command},
            started_at=self.started_at,
        )

    def best_state(self) -> dict[str, torch.Tensor]:
        if self.best["epoch"] < 0:
            raise RuntimeError(f"no epoch finished in {self.run_dir}; nothing to ship")
        return torch.load(self.run_dir / "best.pt", map_location="cpu", weights_only=True)

    def recipe(self, resumed_with: str | None) -> dict[str, Any]:
        """What every manifest records of the run."""
        return {
            "command": self.command,
            "resumed_with": resumed_with,
            "started_at": self.started_at,
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            # Time of the training loop (validation included), summed over resumed sessions.
            "training_seconds": round(self.elapsed_before, 1),
            "epochs_run": len(self.history),
            "stopped_by": self.stopped,
            "best_epoch": self.best["epoch"],
            "history": self.history,
        }


def hardware_description(device: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {
        "device": str(device),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def selection_score(entry: dict[str, Any], select: str) -> float:
    """The validation number that picks the best epoch."""
    if select == "balanced_accuracy":
        return float(entry["val_balanced_accuracy"])
    if select == "mean":
        return (float(entry["val_accuracy"]) + float(entry["val_balanced_accuracy"])) / 2
    raise ValueError(f"unknown selection metric {select!r}; choose balanced_accuracy or mean")


def init_from_model(model: nn.Module, architecture: str, path: str) -> PretrainedReport:
    """Load an earlier model's weights (manifest .json or .safetensors) into ``model``."""
    from safetensors.torch import load_file

    from ml.engine.manifest import Manifest

    source = Path(path)
    if source.suffix == ".json":
        manifest = Manifest.load(source)
        if manifest.architecture != architecture:
            raise ValueError(f"{source} is a {manifest.architecture!r} model, not {architecture!r}")
        state = manifest.build_model().state_dict()
    else:
        state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(source)).items()}
    model.load_state_dict(state, strict=True)
    return PretrainedReport(source=f"init-from {source.name}", matched_keys=len(state), reinitialised_keys=())


def earlier_stages_of(path: str) -> list[dict[str, Any]]:
    """What trained the model a second stage starts from (its own earlier stages first)."""
    from ml.engine.manifest import Manifest

    if Path(path).suffix != ".json":
        return [{"name": Path(path).stem, "weights_file": str(path)}]
    manifest = Manifest.load(path)
    training = manifest.training or {}
    keys = ("command", "resumed_with", "training_seconds", "epochs_run", "best_epoch", "started_at", "finished_at")
    return [
        *training.get("earlier_stages", []),
        {
            "name": manifest.name,
            "weights_sha256": manifest.weights_sha256,
            **{key: training.get(key) for key in keys},
            "hardware": training.get("hardware"),
        },
    ]


__all__ = [
    "Checkpoint",
    "ThreadTuner",
    "TrainingRun",
    "class_weights",
    "earlier_stages_of",
    "freeze_early_layers",
    "hardware_description",
    "init_from_model",
    "quick_metrics",
    "selection_score",
    "smooth_one_hot",
    "weighted_soft_cross_entropy",
]
