"""What defines a training run (stored in the manifest as the recipe) and the command line that sets it."""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ml.engine.data import METADATA_NAME
from ml.engine.labels import HAM10000_CLASSES
from ml.engine.manifest import SHIPPED_WEIGHTS_DIR
from ml.engine.pretrained import PRETRAINED_CHOICES

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_WEIGHTS_DIR = SHIPPED_WEIGHTS_DIR
DEFAULT_RUNS_DIR = REPO_ROOT / "runs"


@dataclass
class RunOptions:
    """What every training run has (classifier and segmenter alike): its paths, schedule, budget and resumption.

    The trainers' config dataclasses inherit it; the fields without a default here get theirs there.
    """

    data: str = ""
    metadata: str | None = None
    split_file: str | None = None
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
    ema_decay: float = 0.998
    freeze_blocks: int = -1  # -1: freeze stem + first 2 blocks when ImageNet-initialised
    patience: int = 6
    # Wall-clock budget for the training loop (minutes): the learning-rate schedule follows
    # whichever of steps or time is further along, and training stops when the budget is spent.
    time_budget_min: float | None = None
    pretrained: str = "imagenet-package"
    resume: bool = False
    max_steps: int | None = None
    max_images: int | None = None
    threads: int | None = None
    eval_batch_size: int = 64
    fp16_weights: bool = False
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


def add_run_arguments(parser: argparse.ArgumentParser, d: RunOptions, data_help: str) -> None:
    """The options every trainer has (paths, schedule, budget, resumption), with its own defaults ``d``."""
    parser.add_argument("--data", required=True, help=data_help)
    parser.add_argument("--metadata", default=None, help="metadata CSV (default DATA/HAM10000_metadata.csv)")
    parser.add_argument("--split-file", default=None, help="use this saved split (ml/weights/NAME.split.json)")
    parser.add_argument("--output", default=d.output, help="name: ml/weights/NAME.json/.safetensors, runs/NAME/")
    parser.add_argument("--out-dir", default=None, help="folder for weights and manifest (default ml/weights)")
    parser.add_argument("--runs-dir", default=None, help="folder for checkpoints and logs (default runs/)")
    parser.add_argument("--epochs", type=int, default=d.epochs)
    parser.add_argument("--batch-size", type=int, default=d.batch_size)
    parser.add_argument("--image-size", type=int, nargs=2, metavar=("H", "W"), default=list(d.image_size))
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--device", default=d.device, help="cpu, cuda or auto")
    parser.add_argument("--lr", type=float, default=d.lr)
    parser.add_argument("--weight-decay", type=float, default=d.weight_decay)
    parser.add_argument("--warmup-epochs", type=float, default=d.warmup_epochs)
    parser.add_argument("--ema-decay", type=float, default=d.ema_decay, help="EMA decay per step")
    parser.add_argument("--freeze-blocks", type=int, default=d.freeze_blocks)
    parser.add_argument("--patience", type=int, default=d.patience)
    parser.add_argument("--time-budget-min", type=float, default=None, help="stop training after this many minutes")
    parser.add_argument("--pretrained", choices=PRETRAINED_CHOICES, default=d.pretrained)
    parser.add_argument("--resume", action="store_true", help="continue from runs/NAME/last.pt")
    parser.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (tests)")
    parser.add_argument("--max-images", type=int, default=None, help="train on a subset (tests, smoke runs)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--eval-batch-size", type=int, default=d.eval_batch_size)
    parser.add_argument("--fp16-weights", action="store_true", help="store the weights as float16")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def config_values(args: argparse.Namespace, config_type: type, module: str, argv: list[str] | None) -> dict[str, Any]:
    """The parsed options that name a field of ``config_type``, plus progress, image size and the command."""
    names = set(config_type.__dataclass_fields__)  # type: ignore[attr-defined]
    values = {k: v for k, v in vars(args).items() if k in names}
    values["image_size"] = (args.image_size[0], args.image_size[1])
    values["progress"] = not args.no_progress
    values["command"] = shlex.join([Path(sys.executable).name, "-m", module, *(argv or sys.argv[1:])])
    return values


@dataclass
class TrainConfig(RunOptions):
    """Everything that defines a training run (stored in the manifest as the recipe)."""

    arch: str = "tf_efficientnet_lite0"
    label_smoothing: float = 0.1
    # timm Mixup/CutMix (0 = off); soft targets then carry the label smoothing.
    mixup: float = 0.0
    cutmix: float = 0.0
    mixup_prob: float = 1.0
    class_weight_power: float = 0.5  # 0 = plain CE, 1 = inverse frequency
    # Start from an earlier model of the same architecture (manifest .json or .safetensors) instead
    # of the ImageNet weights: a second, longer stage on top of a first one.
    init_from: str | None = None
    # Cross-fitting: train on every fold of this folds file (training.folds) but ``fold``, validate on ``fold``.
    folds_file: str | None = None
    fold: int | None = None
    # bfloat16 autocast on the CPU: measured 2.2x slower per step than float32 channels_last on the
    # 2-core development CPU (AVX-512 BF16 and AMX flags; Lite0, 128x171, batch 32, 2026-12-07).
    cpu_bf16: bool = False
    # Model selection on validation: "balanced_accuracy", or "mean" of accuracy and balanced accuracy.
    select: str = "balanced_accuracy"
    # Weight of plain accuracy next to balanced accuracy when the logit bias is fitted (0 = balanced only).
    bias_accuracy_weight: float = 0.0
    # Recall floors set on validation after the bias, e.g. {"mel": 0.75} (see ml.engine.training.calibrate).
    min_recall: dict[str, float] = field(default_factory=dict)
    teacher: str | None = None
    distill_alpha: float = 0.5
    distill_temperature: float = 2.0
    fit_logit_bias: bool = True
    # Calibrate on validation and evaluate the test split after training (off on a GPU machine:
    # those run on the CPU afterwards with ``python -m ml.engine.training.calibrate --evaluate-test``).
    calibrate_and_evaluate: bool = True
    tta_test: bool = False


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ml.engine.training.train", description="Train a HAM10000 classifier."
    )
    defaults = TrainConfig()
    parser.add_argument("--arch", default=defaults.arch, help="timm architecture name")
    add_run_arguments(parser, defaults, "folder with images/, HAM10000_metadata.csv (masks/)")
    parser.add_argument("--label-smoothing", type=float, default=defaults.label_smoothing)
    parser.add_argument("--mixup", type=float, default=defaults.mixup, help="timm Mixup alpha (0 = off)")
    parser.add_argument("--cutmix", type=float, default=defaults.cutmix, help="timm CutMix alpha (0 = off)")
    parser.add_argument("--mixup-prob", type=float, default=defaults.mixup_prob, help="share of batches mixed")
    parser.add_argument("--class-weight-power", type=float, default=defaults.class_weight_power)
    parser.add_argument(
        "--hub-pretrained",
        action="store_true",
        help="use timm's hub weights (needs internet; same as --pretrained hub)",
    )
    parser.add_argument(
        "--init-from", default=None, help="start from an earlier model (manifest .json or .safetensors)"
    )
    parser.add_argument("--folds-file", default=None, help="cross-fitting folds (python -m ml.engine.training.folds)")
    parser.add_argument("--fold", type=int, default=None, help="the fold validated on (needs --folds-file)")
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
    parser.add_argument("--teacher", default=None, help="manifest of a teacher model (or ensemble) for distillation")
    parser.add_argument("--distill-alpha", type=float, default=defaults.distill_alpha, help="weight of the KD loss")
    parser.add_argument("--no-logit-bias", action="store_true", help="do not fit a per-class logit bias")
    parser.add_argument("--tta-test", action="store_true", help="also report test metrics with TTA")
    parser.add_argument(
        "--no-finalize", action="store_true", help="write weights + manifest only (calibrate/evaluate later)"
    )
    return parser


def config_from_args(argv: list[str] | None = None) -> TrainConfig:
    from ml.engine.training.calibrate import parse_min_recall

    args = build_parser().parse_args(argv)
    values = config_values(args, TrainConfig, "ml.engine.training.train", argv)
    values["pretrained"] = "hub" if args.hub_pretrained else args.pretrained
    values["min_recall"] = parse_min_recall(args.min_recall, HAM10000_CLASSES)
    values["fit_logit_bias"] = not args.no_logit_bias
    values["calibrate_and_evaluate"] = not args.no_finalize
    if (args.folds_file is None) != (args.fold is None):
        build_parser().error("--folds-file and --fold go together")
    if args.folds_file and args.split_file:
        build_parser().error("--folds-file replaces --split-file")
    return TrainConfig(**values)


__all__ = ["RunOptions", "TrainConfig", "add_run_arguments", "build_parser", "config_from_args", "config_values"]
