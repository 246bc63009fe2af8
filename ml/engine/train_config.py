"""What defines a training run (stored in the manifest as the recipe) and the command line that sets it."""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ml.engine.architectures import HAM10000_CLASSES
from ml.engine.data import METADATA_NAME
from ml.engine.manifest import SHIPPED_WEIGHTS_DIR
from ml.engine.pretrained import PRETRAINED_CHOICES

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_WEIGHTS_DIR = SHIPPED_WEIGHTS_DIR
DEFAULT_RUNS_DIR = REPO_ROOT / "runs"


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
    # timm Mixup/CutMix (0 = off); soft targets then carry the label smoothing.
    mixup: float = 0.0
    cutmix: float = 0.0
    mixup_prob: float = 1.0
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
    # Calibrate on validation and evaluate the test split after training (off on a GPU machine:
    # those run on the CPU afterwards with ``python -m ml.engine.calibrate --evaluate-test``).
    calibrate_and_evaluate: bool = True
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ml.engine.train", description="Train a HAM10000 classifier.")
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
    parser.add_argument("--mixup", type=float, default=defaults.mixup, help="timm Mixup alpha (0 = off)")
    parser.add_argument("--cutmix", type=float, default=defaults.cutmix, help="timm CutMix alpha (0 = off)")
    parser.add_argument("--mixup-prob", type=float, default=defaults.mixup_prob, help="share of batches mixed")
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
    parser.add_argument(
        "--no-finalize", action="store_true", help="write weights + manifest only (calibrate/evaluate later)"
    )
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
        mixup=args.mixup,
        cutmix=args.cutmix,
        mixup_prob=args.mixup_prob,
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
        calibrate_and_evaluate=not args.no_finalize,
        tta_test=args.tta_test,
        threads=args.threads,
        progress=not args.no_progress,
        command=shlex.join([Path(sys.executable).name, "-m", "ml.engine.train", *(argv or sys.argv[1:])]),
    )


__all__ = ["TrainConfig", "build_parser", "config_from_args"]
