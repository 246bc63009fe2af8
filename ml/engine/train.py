"""Train a HAM10000 classifier: ``python -m ml.engine.train --arch ... --data ... --output NAME``.

Images are decoded once into memory and augmented as batched tensor ops; the loss is
class-weighted cross-entropy (softened inverse-frequency weights) with label smoothing;
an exponential moving average (EMA) of the weights is validated after every epoch and the
best one by validation balanced accuracy is kept. At the end the temperature (and a
per-class logit bias) are fitted on validation, the held-out test split is evaluated through
the app's own preprocessing, and weights + manifest + split are written.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ml.engine.architectures import HAM10000_CLASSES, create_classifier_model
from ml.engine.augment import AugmentConfig, augment_batch, normalise
from ml.engine.data import (
    IMAGES_DIR,
    METADATA_NAME,
    InMemoryDataset,
    Record,
    Split,
    read_metadata,
    split_by_lesion,
    subsample,
)
from ml.engine.manifest import SHIPPED_WEIGHTS_DIR
from ml.engine.pretrained import PRETRAINED_CHOICES, load_pretrained, normalisation_for
from ml.engine.training_utils import (
    ModelEma,
    ThreadTuner,
    class_weights,
    earlier_stages_of,
    freeze_early_layers,
    hardware_description,
    init_from_model,
    lr_at,
    predict_tensor_logits,
    quick_metrics,
    selection_score,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_WEIGHTS_DIR = SHIPPED_WEIGHTS_DIR
DEFAULT_RUNS_DIR = REPO_ROOT / "runs"
MEL = HAM10000_CLASSES.index("mel")


@dataclass
class TrainConfig:
    """Everything that defines a training run (stored in the manifest as the recipe)."""

    arch: str = "tf_efficientnet_lite0"
    data: str = ""
    metadata: str | None = None
    output: str = "model"
    out_dir: str | None = None
    runs_dir: str | None = None
    epochs: int = 15
    batch_size: int = 32
    image_size: tuple[int, int] = (192, 256)  # H, W
    seed: int = 0
    device: str = "auto"
    lr: float = 6e-4
    weight_decay: float = 0.02
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.1
    class_weight_power: float = 0.5  # 0 = plain CE, 1 = inverse frequency
    ema_decay: float = 0.998
    freeze_blocks: int = -1  # -1: freeze stem + first 2 blocks when ImageNet-initialised
    patience: int = 6
    # Wall-clock budget for the training loop (minutes): the learning-rate schedule follows
    # whichever of steps or time is further along, and training stops when the budget is spent.
    time_budget_min: float | None = None
    pretrained: str = "imagenet-package"
    # Start from an earlier model of the same architecture (manifest .json or .safetensors) instead
    # of the ImageNet weights: a second, longer stage on top of a first one.
    init_from: str | None = None
    # Use a saved split (e.g. ml/weights/NAME.split.json) instead of computing one from the seed.
    split_file: str | None = None
    # bfloat16 autocast on the CPU: measured no faster than float32 on the 2-core development CPU
    # (AVX-512 BF16, no AMX); a CPU with AMX may gain.
    cpu_bf16: bool = False
    # Model selection on validation: "balanced_accuracy", or "mean" of accuracy and balanced accuracy.
    select: str = "balanced_accuracy"
    # Weight of plain accuracy next to balanced accuracy when the logit bias is fitted (0 = balanced only).
    bias_accuracy_weight: float = 0.0
    # Recall floors set on validation after the bias, e.g. {"mel": 0.75} (see ml.engine.calibrate).
    min_recall: dict[str, float] = field(default_factory=dict)
    resume: bool = False
    max_steps: int | None = None
    max_images: int | None = None
    teacher: str | None = None
    distill_alpha: float = 0.5
    distill_temperature: float = 2.0
    fp16_weights: bool = False
    fit_logit_bias: bool = True
    tta_test: bool = False
    threads: int | None = None
    eval_batch_size: int = 64
    progress: bool = True
    command: str = ""

    @property
    def data_dir(self) -> Path:
        return Path(self.data)

    @property
    def metadata_path(self) -> Path:
        return Path(self.metadata) if self.metadata else self.data_dir / METADATA_NAME

    @property
    def weights_dir(self) -> Path:
        return Path(self.out_dir) if self.out_dir else DEFAULT_WEIGHTS_DIR

    @property
    def run_dir(self) -> Path:
        return (Path(self.runs_dir) if self.runs_dir else DEFAULT_RUNS_DIR) / self.output

    @property
    def manifest_path(self) -> Path:
        return self.weights_dir / f"{self.output}.json"


@dataclass
class TrainResult:
    """What a run produced."""

    manifest_path: Path
    best_epoch: int
    best_val: dict[str, float]
    history: list[dict[str, Any]] = field(default_factory=list)
    test_metrics: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


# -- helpers ---------------------------------------------------------------------------------------
def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _teacher_probabilities(config: TrainConfig, train_set: InMemoryDataset, device: torch.device) -> np.ndarray:
    """Soft targets of the teacher on the clean training images (computed once)."""
    from ml.engine.manifest import Manifest

    teacher_manifest = Manifest.load(config.teacher)  # type: ignore[arg-type]
    teacher = teacher_manifest.build_model().to(device).to(memory_format=torch.channels_last)
    logits = predict_tensor_logits(
        teacher,
        train_set.images,
        teacher_manifest.height,
        teacher_manifest.width,
        tuple(teacher_manifest.mean),
        tuple(teacher_manifest.std),
        device,
        config.eval_batch_size,
    )
    del teacher
    return torch.softmax(torch.from_numpy(logits) / config.distill_temperature, dim=1).numpy()


# -- the run -----------------------------------------------------------------------------------------
def prepare_split(config: TrainConfig, records: list[Record]) -> Split:
    split_path = config.run_dir / "split.json"
    if config.resume and split_path.is_file():
        return Split.load(split_path)
    if config.split_file:
        split = Split.load(config.split_file)
        known = {r.image_id for r in records}
        missing = [i for i in (*split.train, *split.val, *split.test) if i not in known]
        if missing:
            raise ValueError(
                f"split file {config.split_file} lists {len(missing)} image ids not in the metadata "
                f"(first: {missing[0]})"
            )
    else:
        split = split_by_lesion(records, seed=config.seed)
    split.save(split_path, metadata=str(config.metadata_path))
    return split


def train(config: TrainConfig) -> TrainResult:
    """Run training end to end and write weights, manifest and split; see the module docstring."""
    started = time.time()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    tuner = ThreadTuner(config.threads or torch.get_num_threads())
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    device = resolve_device(config.device)
    height, width = config.image_size
    run_dir = config.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    log_path = run_dir / "log.jsonl"

    records = read_metadata(config.metadata_path)
    if config.max_images:
        records = subsample(records, config.max_images, seed=config.seed)
    split = prepare_split(config, records)
    by_id = {r.image_id: r for r in records}
    images_dir = config.data_dir / IMAGES_DIR
    t0 = time.time()
    train_set = InMemoryDataset.from_records(images_dir, [by_id[i] for i in split.train])
    val_set = InMemoryDataset.from_records(images_dir, [by_id[i] for i in split.val])
    print(
        f"decoded {len(train_set)} train / {len(val_set)} val images in {time.time() - t0:.1f}s; "
        f"test split holds {len(split.test)} images",
        flush=True,
    )

    model = create_classifier_model(config.arch)
    if config.init_from:
        pretrained = init_from_model(model, config.arch, config.init_from)
    else:
        pretrained = load_pretrained(model, config.arch, config.pretrained)
    mean, std = normalisation_for(config.arch)
    freeze = config.freeze_blocks
    if freeze < 0:
        freeze = 2 if config.pretrained != "none" or config.init_from else 0
    frozen = freeze_early_layers(model, freeze)
    model = model.to(device).to(memory_format=torch.channels_last)
    ema = ModelEma(model, config.ema_decay)

    weights = class_weights(train_set.class_counts(), config.class_weight_power).to(device)
    criterion = nn.CrossEntropyLoss(weight=weights, label_smoothing=config.label_smoothing)
    parameters = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in parameters if p.ndim > 1]
    no_decay = [p for p in parameters if p.ndim <= 1]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.lr,
    )
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda")
    amp_dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    amp_enabled = device.type == "cuda" or config.cpu_bf16
    teacher_probs = _teacher_probabilities(config, train_set, device) if config.teacher else None

    steps_per_epoch = max(1, len(train_set) // config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    if config.max_steps:
        total_steps = min(total_steps, config.max_steps)
    warmup = min(total_steps // 2, int(config.warmup_epochs * steps_per_epoch)) or 1
    generator = torch.Generator().manual_seed(config.seed)
    augment = AugmentConfig()

    history: list[dict[str, Any]] = []
    start_epoch, step = 0, 0
    best: dict[str, Any] = {"score": -1.0, "epoch": -1, "metrics": {}}
    stale = 0
    checkpoint_path = run_dir / "last.pt"
    original_command = config.command
    if config.resume and checkpoint_path.is_file():
        state = torch.load(checkpoint_path, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        ema.module.load_state_dict(state["ema"])
        ema.updates = state["ema_updates"]
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        generator.set_state(state["generator"])
        start_epoch, step, best, history, stale = (
            state["epoch"] + 1,
            state["step"],
            state["best"],
            state["history"],
            state["stale"],
        )
        first_run = state.get("config", {})
        original_command = first_run.get("command") or original_command
        started_at = state.get("started_at", started_at)
        print(f"resumed from {checkpoint_path} after epoch {start_epoch}", flush=True)
    elif log_path.exists():
        log_path.unlink()

    stopped = "epochs"
    budget_s = config.time_budget_min * 60 if config.time_budget_min else None
    elapsed_before = float(history[-1].get("elapsed_seconds", 0.0)) if history else 0.0
    loop_start = time.time() - elapsed_before

    def time_progress() -> float:
        if budget_s is None:
            return 0.0
        return (time.time() - loop_start) / budget_s

    for epoch in range(start_epoch, config.epochs):
        if time_progress() >= 1.0:
            stopped = "time_budget"
            break
        if step >= total_steps:
            stopped = "max_steps"
            break
        if stale >= config.patience:
            stopped = "early_stopping"
            break
        model.train()
        epoch_start = time.time()
        order = torch.randperm(len(train_set), generator=generator).numpy()
        batches = min(steps_per_epoch, total_steps - step)
        running, seen = 0.0, 0
        bar = tqdm(
            range(batches),
            desc=f"epoch {epoch + 1}/{config.epochs}",
            disable=not config.progress,
            file=sys.stdout,
            mininterval=5.0,
            dynamic_ncols=True,
        )
        for b in bar:
            if time_progress() >= 1.0:
                break
            step_start = time.time()
            index = np.sort(order[b * config.batch_size : (b + 1) * config.batch_size])
            images = torch.from_numpy(train_set.images[index])
            labels = torch.from_numpy(train_set.labels[index]).to(device)
            batch = normalise(augment_batch(images, height, width, augment, generator), mean, std)
            batch = batch.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, total_steps, warmup, config.lr, time_progress())
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_enabled):
                logits = model(batch)
                loss = criterion(logits.float(), labels)
                if teacher_probs is not None:
                    target = torch.from_numpy(teacher_probs[index]).to(device)
                    log_student = F.log_softmax(logits.float() / config.distill_temperature, dim=1)
                    distill = F.kl_div(log_student, target, reduction="batchmean")
                    loss = (1 - config.distill_alpha) * loss + (
                        config.distill_alpha * distill * config.distill_temperature**2
                    )
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            ema.update(model)
            step += 1
            running += float(loss.item()) * len(index)
            seen += len(index)
            tuner.record(time.time() - step_start)
            bar.set_postfix(loss=f"{running / seen:.4f}", threads=tuner.current, refresh=False)
        bar.close()
        train_seconds = time.time() - epoch_start

        val_logits = predict_tensor_logits(
            ema.module, val_set.images, height, width, mean, std, device, config.eval_batch_size
        )
        entry: dict[str, Any] = {
            "epoch": epoch + 1,
            "step": step,
            "lr": optimizer.param_groups[0]["lr"],
            "train_loss": running / max(1, seen),
            **quick_metrics(val_logits, val_set.labels),
            "train_seconds": round(train_seconds, 1),
            "epoch_seconds": round(time.time() - epoch_start, 1),
            "elapsed_seconds": round(time.time() - loop_start, 1),
        }
        score = selection_score(entry, config.select)
        entry["selection_score"] = score
        if score > best["score"]:
            best = {"score": score, "epoch": epoch + 1, "metrics": entry}
            torch.save(ema.module.state_dict(), run_dir / "best.pt")
            stale = 0
        else:
            stale += 1
        entry["best_epoch"] = best["epoch"]
        history.append(entry)
        with log_path.open("a") as handle:
            handle.write(json.dumps(entry) + "\n")
        print(
            f"epoch {epoch + 1}: train_loss {entry['train_loss']:.4f} | val_loss {entry['val_loss']:.4f} "
            f"acc {entry['val_accuracy']:.4f} bal_acc {entry['val_balanced_accuracy']:.4f} "
            f"mel_sens {entry['val_mel_sensitivity']:.4f} auc {entry['val_auc_macro']:.4f} | "
            f"{entry['epoch_seconds']:.0f}s (best epoch {best['epoch']})",
            flush=True,
        )
        torch.save(
            {
                "model": model.state_dict(),
                "ema": ema.module.state_dict(),
                "ema_updates": ema.updates,
                "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict(),
                "generator": generator.get_state(),
                "epoch": epoch,
                "step": step,
                "best": best,
                "history": history,
                "stale": stale,
                "config": {**asdict(config), "command": original_command},
                "started_at": started_at,
            },
            checkpoint_path,
        )
    if step >= total_steps and stopped == "epochs" and config.max_steps:
        stopped = "max_steps"

    final = create_classifier_model(config.arch)
    best_path = run_dir / "best.pt"
    final.load_state_dict(torch.load(best_path, map_location="cpu", weights_only=True))
    # Time of the training loop (validation included), summed over resumed sessions.
    training_seconds = float(history[-1].get("elapsed_seconds", 0.0)) if history else 0.0
    recipe = {
        "command": original_command,
        "resumed_with": config.command if config.resume else None,
        "config": asdict(config),
        "started_at": started_at,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "training_seconds": round(training_seconds, 1),
        "hardware": {**hardware_description(device), "torch_threads": tuner.max_threads},
        "pretrained": asdict(pretrained),
        "earlier_stages": earlier_stages_of(config.init_from) if config.init_from else [],
        "frozen": frozen,
        "class_weights": [round(float(w), 4) for w in weights.cpu()],
        "augment": asdict(augment),
        "epochs_run": len(history),
        "stopped_by": stopped,
        "best_epoch": best["epoch"],
        "history": history,
        "train_images": len(split.train),
        "val_images": len(split.val),
        "test_images": len(split.test),
    }
    result = finalize(config, final, split, recipe, device)
    result.history = history
    result.best_epoch = best["epoch"]
    result.best_val = {k: v for k, v in best["metrics"].items() if isinstance(v, float)}
    result.seconds = time.time() - started
    return result


def finalize(
    config: TrainConfig, model: nn.Module, split: Split, recipe: dict[str, Any], device: torch.device
) -> TrainResult:
    """Save weights + manifest + split, calibrate on validation, evaluate the test split."""
    from ml.engine.calibrate import CalibrationChoice, calibrate_manifest, evaluate_into_manifest
    from ml.engine.manifest import save_model

    height, width = config.image_size
    mean, std = normalisation_for(config.arch)
    dtype = torch.float16 if config.fp16_weights else torch.float32
    manifest_path = config.manifest_path
    split_name = f"{config.output}.split.json"
    split.save(
        config.weights_dir / split_name,
        metadata=config.metadata_path.name,
        grouping="lesion_id",
        stratified_by="dx",
    )
    # Save once so calibration runs through the exact shipped weights and app preprocessing.
    save_model(
        model,
        manifest_path,
        name=config.output,
        architecture=config.arch,
        input_size=[3, height, width],
        mean=mean,
        std=std,
        dtype=dtype,
        training=recipe,
        split_file=split_name,
    )
    images_dir = config.data_dir / IMAGES_DIR
    choice = CalibrationChoice(
        fit_logit_bias=config.fit_logit_bias,
        bias_accuracy_weight=config.bias_accuracy_weight,
        min_recall=dict(config.min_recall),
    )
    calibrate_manifest(manifest_path, images_dir, config.metadata_path, split.val, choice, device)
    masks = config.data_dir / "masks"
    metrics = evaluate_into_manifest(
        manifest_path,
        images_dir,
        config.metadata_path,
        masks_dir=masks if masks.is_dir() else None,
        tta=config.tta_test,
        device=str(device),
        confusion_png=config.weights_dir / "reports" / f"{config.output}.test.confusion.png",
    )
    print(f"wrote {manifest_path}", flush=True)
    return TrainResult(manifest_path=manifest_path, best_epoch=-1, best_val={}, test_metrics=metrics["test"])


# -- CLI ---------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ml.engine.train", description=__doc__.split("\n")[0])
    defaults = TrainConfig()
    parser.add_argument("--arch", default=defaults.arch, help="timm architecture name")
    parser.add_argument("--data", required=True, help="folder with images/, HAM10000_metadata.csv (masks/)")
    parser.add_argument("--metadata", default=None, help="metadata CSV (default DATA/HAM10000_metadata.csv)")
    parser.add_argument("--output", default="model", help="name: ml/weights/NAME.safetensors/.json/.split.json")
    parser.add_argument("--out-dir", default=None, help="folder for weights and manifest (default ml/weights)")
    parser.add_argument("--runs-dir", default=None, help="folder for checkpoints and logs (default runs/)")
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--image-size", type=int, nargs=2, metavar=("H", "W"), default=list(defaults.image_size))
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--device", default=defaults.device, help="cpu, cuda or auto")
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    parser.add_argument("--label-smoothing", type=float, default=defaults.label_smoothing)
    parser.add_argument("--class-weight-power", type=float, default=defaults.class_weight_power)
    parser.add_argument("--freeze-blocks", type=int, default=defaults.freeze_blocks)
    parser.add_argument("--patience", type=int, default=defaults.patience)
    parser.add_argument(
        "--time-budget-min", type=float, default=None, help="stop the training loop after this many minutes"
    )
    parser.add_argument("--pretrained", choices=PRETRAINED_CHOICES, default=defaults.pretrained)
    parser.add_argument(
        "--hub-pretrained",
        action="store_true",
        help="use timm's hub weights (needs internet; same as --pretrained hub)",
    )
    parser.add_argument(
        "--init-from", default=None, help="start from an earlier model (manifest .json or .safetensors)"
    )
    parser.add_argument("--split-file", default=None, help="use this saved split instead of computing one")
    parser.add_argument("--cpu-bf16", action="store_true", help="bfloat16 autocast when training on the CPU")
    parser.add_argument(
        "--select",
        choices=("balanced_accuracy", "mean"),
        default=defaults.select,
        help="validation number that picks the best epoch (mean = of accuracy and balanced accuracy)",
    )
    parser.add_argument(
        "--bias-accuracy-weight",
        type=float,
        default=defaults.bias_accuracy_weight,
        help="weight of accuracy next to balanced accuracy when fitting the logit bias",
    )
    parser.add_argument(
        "--min-recall", action="append", default=[], metavar="CLASS=RECALL", help="recall floor set on validation"
    )
    parser.add_argument("--warmup-epochs", type=float, default=defaults.warmup_epochs)
    parser.add_argument("--resume", action="store_true", help="continue from runs/NAME/last.pt")
    parser.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (tests)")
    parser.add_argument("--max-images", type=int, default=None, help="train on a stratified subset (tests)")
    parser.add_argument("--teacher", default=None, help="manifest of a teacher model for distillation")
    parser.add_argument("--distill-alpha", type=float, default=defaults.distill_alpha, help="weight of the KD loss")
    parser.add_argument("--ema-decay", type=float, default=defaults.ema_decay, help="EMA decay per step")
    parser.add_argument("--fp16-weights", action="store_true", help="store the weights as float16")
    parser.add_argument("--no-logit-bias", action="store_true", help="do not fit a per-class logit bias")
    parser.add_argument("--tta-test", action="store_true", help="also report test metrics with TTA")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def config_from_args(argv: list[str] | None = None) -> TrainConfig:
    from ml.engine.calibrate import parse_min_recall

    args = build_parser().parse_args(argv)
    return TrainConfig(
        arch=args.arch,
        data=args.data,
        metadata=args.metadata,
        output=args.output,
        out_dir=args.out_dir,
        runs_dir=args.runs_dir,
        epochs=args.epochs,
        batch_size=args.batch_size,
        image_size=(args.image_size[0], args.image_size[1]),
        seed=args.seed,
        device=args.device,
        lr=args.lr,
        weight_decay=args.weight_decay,
        label_smoothing=args.label_smoothing,
        class_weight_power=args.class_weight_power,
        freeze_blocks=args.freeze_blocks,
        patience=args.patience,
        time_budget_min=args.time_budget_min,
        pretrained="hub" if args.hub_pretrained else args.pretrained,
        init_from=args.init_from,
        split_file=args.split_file,
        cpu_bf16=args.cpu_bf16,
        select=args.select,
        bias_accuracy_weight=args.bias_accuracy_weight,
        min_recall=parse_min_recall(args.min_recall, HAM10000_CLASSES),
        warmup_epochs=args.warmup_epochs,
        resume=args.resume,
        max_steps=args.max_steps,
        max_images=args.max_images,
        teacher=args.teacher,
        distill_alpha=args.distill_alpha,
        ema_decay=args.ema_decay,
        fp16_weights=args.fp16_weights,
        fit_logit_bias=not args.no_logit_bias,
        tta_test=args.tta_test,
        threads=args.threads,
        progress=not args.no_progress,
        command=shlex.join([Path(sys.executable).name, "-m", "ml.engine.train", *(argv or sys.argv[1:])]),
    )


def main(argv: list[str] | None = None) -> int:
    config = config_from_args(argv)
    result = train(config)
    print(f"best epoch {result.best_epoch}; manifest {result.manifest_path}; {result.seconds / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
