"""What defines a segmentation training run (stored in the manifest as the recipe) and its command line."""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from ml.engine.data import METADATA_NAME
from ml.engine.pretrained import PRETRAINED_CHOICES
from ml.engine.segmentation import DEFAULT_DECODER_CHANNELS, DEFAULT_ENCODER
from ml.engine.train_config import DEFAULT_RUNS_DIR, DEFAULT_WEIGHTS_DIR


@dataclass
class SegTrainConfig:
    """Everything that defines a segmentation training run (stored in the manifest as the recipe)."""

    encoder: str = DEFAULT_ENCODER
    data: str = ""
    metadata: str | None = None
    split_file: str | None = None  # the classifiers' split; computed from the metadata when None
    output: str = "lesion_unet_lite0"
    out_dir: str | None = None
    runs_dir: str | None = None
    epochs: int = 40
    batch_size: int = 16
    # H, W: the photos are 150x200, so 144x192 keeps their 4:3 at about their own resolution
    # and costs about 0.55x of 192x256 per step (measured on the 2-core CPU).
    image_size: tuple[int, int] = (144, 192)
    decoder_channels: tuple[int, ...] = DEFAULT_DECODER_CHANNELS
    seed: int = 0
    device: str = "auto"
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_epochs: float = 1.0
    dice_weight: float = 1.0  # loss = BCE + dice_weight * (1 - soft Dice)
    ema_decay: float = 0.998
    freeze_blocks: int = -1  # -1: freeze the stem + first 2 blocks when ImageNet-initialised
    patience: int = 8
    time_budget_min: float | None = None
    pretrained: str = "imagenet-package"
    resume: bool = False
    max_steps: int | None = None
    max_images: int | None = None
    threads: int | None = None
    eval_batch_size: int = 32
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ml.engine.train_segmentation", description="Train the lesion segmentation model."
    )
    d = SegTrainConfig()
    parser.add_argument("--data", required=True, help="folder with images/, masks/ and HAM10000_metadata.csv")
    parser.add_argument("--metadata", default=None, help="metadata CSV (default DATA/HAM10000_metadata.csv)")
    parser.add_argument("--split-file", default=None, help="the classifiers' split (ml/weights/NAME.split.json)")
    parser.add_argument("--output", default=d.output, help="name: ml/weights/NAME.safetensors/.json, runs/NAME/")
    parser.add_argument("--out-dir", default=None, help="folder for weights and manifest (default ml/weights)")
    parser.add_argument("--runs-dir", default=None, help="folder for checkpoints and logs (default runs/)")
    parser.add_argument("--encoder", default=d.encoder, help="timm EfficientNet-Lite name")
    parser.add_argument("--epochs", type=int, default=d.epochs)
    parser.add_argument("--batch-size", type=int, default=d.batch_size)
    parser.add_argument("--image-size", type=int, nargs=2, metavar=("H", "W"), default=list(d.image_size))
    parser.add_argument("--decoder-channels", type=int, nargs="+", default=list(d.decoder_channels))
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--device", default=d.device, help="cpu, cuda or auto")
    parser.add_argument("--lr", type=float, default=d.lr)
    parser.add_argument("--weight-decay", type=float, default=d.weight_decay)
    parser.add_argument("--warmup-epochs", type=float, default=d.warmup_epochs)
    parser.add_argument("--dice-weight", type=float, default=d.dice_weight)
    parser.add_argument("--ema-decay", type=float, default=d.ema_decay)
    parser.add_argument("--freeze-blocks", type=int, default=d.freeze_blocks)
    parser.add_argument("--patience", type=int, default=d.patience)
    parser.add_argument("--time-budget-min", type=float, default=None, help="stop training after this many minutes")
    parser.add_argument("--pretrained", choices=PRETRAINED_CHOICES, default=d.pretrained)
    parser.add_argument("--resume", action="store_true", help="continue from runs/NAME/last.pt")
    parser.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (smoke runs)")
    parser.add_argument("--max-images", type=int, default=None, help="a random subset of each split side (smoke runs)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--eval-batch-size", type=int, default=d.eval_batch_size)
    parser.add_argument("--fp16-weights", action="store_true", help="store the weights as float16")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def config_from_args(argv: list[str] | None = None) -> SegTrainConfig:
    args = build_parser().parse_args(argv)
    return SegTrainConfig(
        encoder=args.encoder,
        data=args.data,
        metadata=args.metadata,
        split_file=args.split_file,
        output=args.output,
        out_dir=args.out_dir,
        runs_dir=args.runs_dir,
        epochs=args.epochs,
        batch_size=args.batch_size,
        image_size=(args.image_size[0], args.image_size[1]),
        decoder_channels=tuple(args.decoder_channels),
        seed=args.seed,
        device=args.device,
        lr=args.lr,
        weight_decay=args.weight_decay,
        warmup_epochs=args.warmup_epochs,
        dice_weight=args.dice_weight,
        ema_decay=args.ema_decay,
        freeze_blocks=args.freeze_blocks,
        patience=args.patience,
        time_budget_min=args.time_budget_min,
        pretrained=args.pretrained,
        resume=args.resume,
        max_steps=args.max_steps,
        max_images=args.max_images,
        threads=args.threads,
        eval_batch_size=args.eval_batch_size,
        fp16_weights=args.fp16_weights,
        progress=not args.no_progress,
        command=shlex.join([Path(sys.executable).name, "-m", "ml.engine.train_segmentation", *(argv or sys.argv[1:])]),
    )


__all__ = ["SegTrainConfig", "build_parser", "config_from_args"]
