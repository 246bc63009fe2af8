"""The one training loop: epochs of shuffled batches, validation of the EMA weights, checkpoints, resume, time budget.

Every trainer (the classifier, the segmenter) builds its model and data, then hands the loop a
``loss_of(index)`` (the loss of the training rows ``index``, augmented as that trainer does) and a
``validate(model)`` (validation numbers of the EMA weights through the app's own path). The loop
owns timm's AdamW (``create_optimizer_v2``), the cosine schedule stepped per update and following
whichever is further along, updates or the wall-clock budget (``CosineLRScheduler``), the weight
EMA (``ModelEmaV3``), thread tuning, and ``TrainingRun``'s bookkeeping: the best epoch and its
weights, the log, early stopping, and ``runs/NAME/last.pt``, which ``--resume`` continues from.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from timm.optim import create_optimizer_v2
from timm.scheduler import CosineLRScheduler
from timm.utils import ModelEmaV3
from torch import nn
from tqdm import tqdm

from ml.engine.training.utils import ThreadTuner


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
        state: dict[str, Any] = torch.load(self.path, map_location=device, weights_only=False)
        return state


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
        state: dict[str, torch.Tensor] = torch.load(self.run_dir / "best.pt", map_location="cpu", weights_only=True)
        return state

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


@dataclass
class TrainResult:
    """What a training run produced (any trainer): the manifest, the best epoch and its numbers, the test figures."""

    manifest_path: Path
    best_epoch: int
    best_val: dict[str, float]
    history: list[dict[str, Any]] = field(default_factory=list)
    test: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def build_scheduler(optimizer: torch.optim.Optimizer, total_steps: int, warmup: int, lr: float) -> CosineLRScheduler:
    """Linear warm-up over ``warmup`` updates, then cosine decay to 1% of ``lr`` at ``total_steps`` (per update)."""
    return CosineLRScheduler(
        optimizer,
        t_initial=max(1, total_steps - warmup),
        lr_min=lr * 0.01,
        warmup_t=warmup,
        warmup_lr_init=lr * 0.01,
        warmup_prefix=True,
        t_in_epochs=False,
    )


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def begin(options: Any) -> tuple[torch.device, TrainingRun]:
    """Seed everything from the options, pick the device and open the run's folder (``runs/NAME/``)."""
    torch.manual_seed(options.seed)
    np.random.seed(options.seed)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    run = TrainingRun(
        options.run_dir, command=options.command, started_at=started_at, budget_min=options.time_budget_min
    )
    return resolve_device(options.device), run


class TrainingLoop:
    """A model's optimizer, schedule, EMA and run, and the epochs that train it (see the module docstring).

    ``options`` is the trainer's config (``RunOptions``: batch size, epochs, learning rate, EMA
    decay, warm-up, patience, budget, resume, max steps, progress bars).
    """

    def __init__(self, model: nn.Module, options: Any, *, rows: int, device: torch.device, run: TrainingRun) -> None:
        self.model, self.options, self.rows, self.device, self.run = model, options, rows, device, run
        self.tuner = ThreadTuner(options.threads or torch.get_num_threads())
        steps_per_epoch = max(1, rows // options.batch_size)
        self.total_steps = steps_per_epoch * options.epochs
        if options.max_steps:
            self.total_steps = min(self.total_steps, options.max_steps)
        warmup = min(self.total_steps // 2, int(options.warmup_epochs * steps_per_epoch))
        self.optimizer = create_optimizer_v2(model, opt="adamw", lr=options.lr, weight_decay=options.weight_decay)
        self.scheduler = build_scheduler(self.optimizer, self.total_steps, warmup, options.lr)
        self.generator = torch.Generator().manual_seed(options.seed)
        self.ema = ModelEmaV3(model, decay=options.ema_decay, use_warmup=True)
        run.start(options.resume, device, **self.parts)

    @property
    def parts(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "ema": self.ema,
            "optimizer": self.optimizer,
            "scheduler": self.scheduler,
            "generator": self.generator,
        }

    def fit(
        self,
        loss_of: Callable[[np.ndarray], torch.Tensor],
        validate: Callable[[nn.Module], dict[str, Any]],
        score: Callable[[dict[str, Any]], float],
        describe: Callable[[dict[str, Any]], str],
        config: dict[str, Any],
    ) -> None:
        """Train until the epochs, steps, budget or patience run out; ``config`` goes into each checkpoint."""
        run, options = self.run, self.options
        for epoch in range(run.start_epoch, options.epochs):
            if run.should_stop(self.total_steps, options.patience):
                break
            epoch_start = time.time()
            train_loss, step_seconds = self._epoch(loss_of, epoch)
            train_seconds = time.time() - epoch_start
            entry: dict[str, Any] = {
                "epoch": epoch + 1,
                "step": run.step,
                "lr": self.optimizer.param_groups[0]["lr"],
                "train_loss": train_loss,
                **validate(self.ema.module),
                "train_seconds": round(train_seconds, 1),
                "seconds_per_step": round(float(np.median(step_seconds)), 3) if step_seconds else None,
                "epoch_seconds": round(time.time() - epoch_start, 1),
            }
            run.record(entry, score(entry), self.ema.module)
            print(f"epoch {epoch + 1}: {describe(entry)} (best epoch {run.best['epoch']})", flush=True)
            run.save(epoch, config, **self.parts)
        if run.time_progress() >= 1.0 and run.stopped == "epochs":
            run.stopped = "time_budget"
        if run.step >= self.total_steps and run.stopped == "epochs" and options.max_steps:
            run.stopped = "max_steps"

    def _epoch(self, loss_of: Callable[[np.ndarray], torch.Tensor], epoch: int) -> tuple[float, list[float]]:
        """One pass over the shuffled training rows; the mean loss and the seconds of each step."""
        options, run = self.options, self.run
        self.model.train()
        order = torch.randperm(self.rows, generator=self.generator).numpy()
        batches = min(self.rows // options.batch_size or 1, self.total_steps - run.step)
        running, seen, step_seconds = 0.0, 0, []
        bar = tqdm(
            range(batches), desc=f"epoch {epoch + 1}/{options.epochs}", disable=not options.progress, file=sys.stdout
        )
        for b in bar:
            if run.time_progress() >= 1.0:
                break
            step_start = time.time()
            index = np.sort(order[b * options.batch_size : (b + 1) * options.batch_size])
            self.scheduler.step_update(num_updates=max(run.step, int(run.time_progress() * self.total_steps)))
            loss = loss_of(index)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]  # torch: Tensor.backward is unannotated
            self.optimizer.step()
            run.step += 1
            self.ema.update(self.model, step=run.step)
            running += float(loss.item()) * len(index)
            seen += len(index)
            seconds = time.time() - step_start
            step_seconds.append(seconds)
            self.tuner.record(seconds)
            bar.set_postfix(loss=f"{running / seen:.4f}", threads=self.tuner.current, refresh=False)
        bar.close()
        return running / max(1, seen), step_seconds


__all__ = ["Checkpoint", "TrainResult", "TrainingLoop", "TrainingRun", "begin", "build_scheduler", "resolve_device"]
