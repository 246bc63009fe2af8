"""Train the lesion segmentation model on the HAM10000 masks.

``python -m ml.engine.training.segmentation --data DATA --split-file SPLIT --output NAME [--resume]``
(SPLIT: the classifiers' ``ml/weights/efficientnet_lite0_ham10000.split.json``)

The split is the classifiers' lesion-grouped one (``--split-file``), so no lesion of the
classifiers' validation or test photos is trained on here. Images and masks are decoded once
into memory; each batch is rotated, flipped, zoomed and shifted with its mask in one
``grid_sample`` (the mask rides along as a fourth channel) and colour-jittered. Loss: BCE +
soft Dice. timm's AdamW (``create_optimizer_v2``), cosine schedule per update
(``CosineLRScheduler``) and weight EMA (``ModelEmaV3``), as the classifier trainer. After each
epoch the EMA weights segment the validation photos through the app's own path and are scored
at the photo's resolution; the best epoch by validation Jaccard is kept. Checkpoints in
``runs/NAME/`` (``--resume``); at the end weights + manifest go to ``ml/weights/`` and the test
split is evaluated into the manifest.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ml.engine.data import (
    IMAGES_DIR,
    MASKS_DIR,
    STORAGE_HEIGHT,
    STORAGE_WIDTH,
    Split,
    decode_mask,
    load_images,
    mask_path,
    read_metadata,
    split_by_lesion,
)
from ml.engine.evaluation.segmentation import SegmentationReport, score_segmenter
from ml.engine.inference.preprocess import normalise, to_float
from ml.engine.manifest import file_sha256
from ml.engine.pretrained import normalisation_for
from ml.engine.segmentation.model import (
    LesionUNet,
    SegmentationManifest,
    Segmenter,
    create_segmentation_model,
    save_segmentation_model,
)
from ml.engine.training.augment import AugmentConfig, colour_jitter, random_affine
from ml.engine.training.loop import TrainingLoop, TrainResult, begin
from ml.engine.training.segmentation_config import SegTrainConfig, config_from_args
from ml.engine.training.utils import freeze_early_layers, hardware_description


# -- pieces ----------------------------------------------------------------------------------------
def dice_bce_loss(logits: torch.Tensor, targets: torch.Tensor, dice_weight: float = 1.0) -> torch.Tensor:
    """BCE with logits plus ``dice_weight`` x (1 - soft Dice), the Dice per image (smoothed by 1) and averaged."""
    logits = logits.float()
    bce = F.binary_cross_entropy_with_logits(logits, targets)
    probabilities = torch.sigmoid(logits).flatten(1)
    flat = targets.flatten(1)
    intersection = (probabilities * flat).sum(dim=1)
    dice = (2 * intersection + 1) / (probabilities.sum(dim=1) + flat.sum(dim=1) + 1)
    return bce + dice_weight * (1 - dice).mean()


def augment_pair(
    images: torch.Tensor,
    masks: torch.Tensor,
    height: int,
    width: int,
    config: AugmentConfig,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images (N, 3, h, w) and masks (N, 1, h, w) -> float images in [0, 1] and soft masks, same geometry.

    The mask is a fourth channel of the one ``random_affine`` call, so it moves exactly with
    its image; the colour jitter touches the image only.
    """
    stacked = torch.cat([to_float(images), to_float(masks)], dim=1)
    moved = random_affine(stacked, height, width, config, generator)
    return colour_jitter(moved[:, :3].contiguous(), config, generator), moved[:, 3:].clamp(0, 1)


def load_masks(masks_dir: Path | str, image_ids: list[str]) -> np.ndarray:
    """Masks as uint8 (N, 1, H, W) at the in-memory storage size, 255 = lesion."""
    out = np.empty((len(image_ids), 1, STORAGE_HEIGHT, STORAGE_WIDTH), dtype=np.uint8)
    for index, image_id in enumerate(image_ids):
        path = mask_path(masks_dir, image_id)
        if path is None:
            raise FileNotFoundError(f"no mask for {image_id} in {masks_dir}")
        out[index, 0] = decode_mask(path)
    return out


def prepare_split(config: SegTrainConfig) -> Split:
    """The run's split: the saved one on resume, else the split file (or one computed from the metadata).

    Only images with a mask are kept; with ``max_images`` a random share of each side (smoke
    runs; each side is lesion-grouped already, so a subset of it is too).
    """
    saved = config.run_dir / "split.json"
    if config.resume and saved.is_file():
        return Split.load(saved)
    records = read_metadata(config.metadata_path)
    known = {r.image_id for r in records}
    if config.split_file:
        split = Split.load(config.split_file)
        missing = [i for i in (*split.train, *split.val, *split.test) if i not in known]
        if missing:
            raise ValueError(
                f"split file {config.split_file} lists {len(missing)} image ids not in the metadata "
                f"(first: {missing[0]})"
            )
    else:
        split = split_by_lesion(records, seed=config.seed)
    masks = config.data_dir / MASKS_DIR
    total = len(split.train) + len(split.val) + len(split.test)
    share = min(1.0, config.max_images / total) if config.max_images else 1.0
    rng = random.Random(config.seed)

    def keep(ids: list[str]) -> list[str]:
        chosen = sorted(rng.sample(ids, max(1, round(len(ids) * share)))) if share < 1.0 and ids else ids
        return [i for i in chosen if mask_path(masks, i) is not None]

    split = Split(
        train=keep(split.train), val=keep(split.val), test=keep(split.test), seed=split.seed, fractions=split.fractions
    )
    split.save(saved, metadata=str(config.metadata_path), source=str(config.split_file or "computed"))
    return split


def validation_segmenter(model: nn.Module, config: SegTrainConfig, device: torch.device) -> Segmenter:
    """A ``Segmenter`` around a model being trained, preprocessing photos as the shipped one will."""
    height, width = config.image_size
    mean, std = normalisation_for(config.encoder)
    manifest = SegmentationManifest(
        name=config.output,
        encoder=config.encoder,
        weights_file="(in training)",
        weights_sha256="",
        decoder_channels=list(config.decoder_channels),
        input_size=[3, height, width],
        mean=list(mean),
        std=list(std),
    )
    return Segmenter(model, manifest, device=device)


def _score(segmenter: Segmenter, config: SegTrainConfig, image_ids: list[str]) -> SegmentationReport:
    """The segmenter scored on these photos at their own resolution, through the app's path."""
    data = config.data_dir
    return score_segmenter(segmenter, data / IMAGES_DIR, data / MASKS_DIR, image_ids, batch_size=config.eval_batch_size)


def validate(model: nn.Module, config: SegTrainConfig, split: Split, device: torch.device) -> dict[str, float]:
    """Validation Dice, Jaccard and threshold Jaccard at the photos' resolution, through the app's path."""
    report = _score(validation_segmenter(model, config, device), config, split.val)
    return {
        "val_dice": report.dice,
        "val_jaccard": report.jaccard,
        "val_threshold_jaccard": report.threshold_jaccard,
    }


def segmenter_loss(
    config: SegTrainConfig,
    model: nn.Module,
    images: np.ndarray,
    masks: np.ndarray,
    device: torch.device,
    generator: torch.Generator,
) -> Callable[[np.ndarray], torch.Tensor]:
    """The loss of a batch of training rows: image and mask moved together, BCE + soft Dice."""
    height, width = config.image_size
    mean, std = normalisation_for(config.encoder)
    augment = AugmentConfig()

    def loss_of(index: np.ndarray) -> torch.Tensor:
        batch, target = augment_pair(
            torch.from_numpy(images[index]), torch.from_numpy(masks[index]), height, width, augment, generator
        )
        batch = normalise(batch, mean, std).to(device).contiguous(memory_format=torch.channels_last)
        return dice_bce_loss(model(batch), target.to(device), config.dice_weight)

    return loss_of


# -- the run ---------------------------------------------------------------------------------------
def train_segmentation(config: SegTrainConfig) -> TrainResult:
    """Run training end to end and write weights + manifest with test metrics; see the module docstring."""
    started = time.time()
    device, run = begin(config)

    split = prepare_split(config)
    t0 = time.time()
    images = load_images(config.data_dir / IMAGES_DIR, split.train)
    masks = load_masks(config.data_dir / MASKS_DIR, split.train)
    print(
        f"decoded {len(images)} training images with masks in {time.time() - t0:.1f}s; "
        f"{len(split.val)} validation and {len(split.test)} test photos",
        flush=True,
    )

    model, pretrained = create_segmentation_model(config.encoder, config.decoder_channels, config.pretrained)
    freeze = config.freeze_blocks
    if freeze < 0:
        freeze = 2 if config.pretrained != "none" else 0
    frozen = freeze_early_layers(model.encoder, freeze)
    model = model.to(device).to(memory_format=torch.channels_last)

    loop = TrainingLoop(model, config, rows=len(images), device=device, run=run)
    loop.fit(
        loss_of=segmenter_loss(config, model, images, masks, device, loop.generator),
        validate=lambda ema_model: validate(ema_model, config, split, device),
        score=lambda entry: float(entry["val_jaccard"]),
        describe=lambda e: (
            f"train_loss {e['train_loss']:.4f} | val Dice {e['val_dice']:.4f} Jaccard {e['val_jaccard']:.4f} "
            f"threshold Jaccard {e['val_threshold_jaccard']:.4f} | {e['epoch_seconds']:.0f}s, "
            f"{e['seconds_per_step']}s/step"
        ),
        config=asdict(config),
    )

    final, _ = create_segmentation_model(config.encoder, config.decoder_channels)
    final.load_state_dict(run.best_state())
    recipe = {
        **run.recipe(config.command if config.resume else None),
        "config": asdict(config),
        "hardware": {**hardware_description(device), "torch_threads": loop.tuner.max_threads},
        "pretrained": asdict(pretrained),
        "frozen": frozen,
        "loss": f"BCE + {config.dice_weight} x (1 - soft Dice per image)",
        "augment": asdict(AugmentConfig()),
        "optimizer": "timm create_optimizer_v2 adamw, CosineLRScheduler per update, ModelEmaV3",
        "selection": "best epoch by mean validation Jaccard (EMA weights)",
        "train_images": len(split.train),
        "val_images": len(split.val),
        "test_images": len(split.test),
    }
    best_val = {k: v for k, v in run.best["metrics"].items() if k.startswith("val_")}
    manifest_path, test = finalize(config, final, split, recipe, best_val, device)
    return TrainResult(
        manifest_path=manifest_path,
        best_epoch=run.best["epoch"],
        best_val=best_val,
        history=run.history,
        test=test.summary(),
        seconds=time.time() - started,
    )


def _shipped_split(config: SegTrainConfig, split: Split) -> str:
    """The split file's name in the weights folder: the given one if it lives there, else a copy."""
    weights_dir = config.weights_dir
    if config.split_file and Path(config.split_file).resolve().parent == weights_dir.resolve():
        return Path(config.split_file).name
    name = f"{config.output}.split.json"
    split.save(weights_dir / name, metadata=config.metadata_path.name, grouping="lesion_id", stratified_by="dx")
    return name


def finalize(
    config: SegTrainConfig,
    model: LesionUNet,
    split: Split,
    recipe: dict[str, Any],
    best_val: dict[str, float],
    device: torch.device,
) -> tuple[Path, SegmentationReport]:
    """Save weights + manifest, then score the test split with the shipped (sha-verified) model into it."""
    height, width = config.image_size
    mean, std = normalisation_for(config.encoder)
    config.weights_dir.mkdir(parents=True, exist_ok=True)
    split_name = _shipped_split(config, split)
    manifest = save_segmentation_model(
        model,
        config.manifest_path,
        dtype=torch.float16 if config.fp16_weights else torch.float32,
        name=config.output,
        encoder=config.encoder,
        decoder_channels=list(config.decoder_channels),
        input_size=[3, height, width],
        mean=list(mean),
        std=list(std),
        metrics={"val": best_val},
        training=recipe,
        split_file=split_name,
        split_sha256=file_sha256(config.weights_dir / split_name),
        description=f"U-Net on {config.encoder} (ImageNet-initialised), HAM10000 lesion masks",
    )
    report = _score(Segmenter.from_manifest(config.manifest_path, device=device), config, split.test)
    report.split = "test"
    manifest.metrics["test"] = report.summary()
    manifest.write(config.manifest_path)
    reports = config.weights_dir / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    (reports / f"{config.output}.test.json").write_text(json.dumps(report.to_dict(), indent=1) + "\n")
    print(
        f"test: Dice {report.dice:.4f}, Jaccard {report.jaccard:.4f}, threshold Jaccard "
        f"{report.threshold_jaccard:.4f} on {report.n} photos; wrote {config.manifest_path}",
        flush=True,
    )
    return config.manifest_path, report


__all__ = [
    "SegTrainConfig",
    "augment_pair",
    "config_from_args",
    "dice_bce_loss",
    "finalize",
    "load_masks",
    "prepare_split",
    "segmenter_loss",
    "train_segmentation",
    "validate",
]


def main(argv: list[str] | None = None) -> int:
    result = train_segmentation(config_from_args(argv))
    print(
        f"best epoch {result.best_epoch} (val {result.best_val}); test {result.test.get('dice')} Dice; "
        f"manifest {result.manifest_path}; {result.seconds / 60:.1f} min"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
