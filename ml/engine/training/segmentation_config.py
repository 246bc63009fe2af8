"""What defines a segmentation training run (stored in the manifest as the recipe) and its command line."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from ml.engine.segmentation.model import DEFAULT_DECODER_CHANNELS, DEFAULT_ENCODER
from ml.engine.training.config import RunOptions, add_run_arguments, config_values


@dataclass
class SegTrainConfig(RunOptions):
    """Everything that defines a segmentation training run (stored in the manifest as the recipe)."""

    encoder: str = DEFAULT_ENCODER
    split_file: str | None = None  # the classifiers' split; computed from the metadata when None
    output: str = "lesion_unet_lite0"
    epochs: int = 40
    batch_size: int = 16
    # H, W: the photos are 150x200, so 144x192 keeps their 4:3 at about their own resolution
    # and costs about 0.55x of 192x256 per step (measured on the 2-core CPU).
    image_size: tuple[int, int] = (144, 192)
    decoder_channels: tuple[int, ...] = DEFAULT_DECODER_CHANNELS
    lr: float = 1e-3
    weight_decay: float = 0.01
    dice_weight: float = 1.0  # loss = BCE + dice_weight * (1 - soft Dice)
    patience: int = 8
    eval_batch_size: int = 32


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ml.engine.training.segmentation", description="Train the lesion segmentation model."
    )
    d = SegTrainConfig()
    add_run_arguments(parser, d, "folder with images/, masks/ and HAM10000_metadata.csv")
    parser.add_argument("--encoder", default=d.encoder, help="timm EfficientNet-Lite name")
    parser.add_argument("--decoder-channels", type=int, nargs="+", default=list(d.decoder_channels))
    parser.add_argument("--dice-weight", type=float, default=d.dice_weight)
    return parser


def config_from_args(argv: list[str] | None = None) -> SegTrainConfig:
    args = build_parser().parse_args(argv)
    values = config_values(args, SegTrainConfig, "ml.engine.training.segmentation", argv)
    values["decoder_channels"] = tuple(args.decoder_channels)
    return SegTrainConfig(**values)


__all__ = ["SegTrainConfig", "build_parser", "config_from_args"]
