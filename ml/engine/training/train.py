"""Train a HAM10000 classifier: ``python -m ml.engine.training.train --arch ... --data ... --output NAME``.

Images are decoded once into memory and augmented as batched tensor ops; the loss is
class-weighted cross-entropy (softened inverse-frequency weights) with label smoothing (and
optionally timm's Mixup/CutMix); timm's AdamW (``create_optimizer_v2``), cosine schedule stepped
per update (``CosineLRScheduler``) and weight EMA (``ModelEmaV3``). The EMA weights are validated
after every epoch through the app's own preprocessing and the best epoch is kept. At the end the temperature (and a
per-class logit bias) are fitted on validation, the held-out test split is evaluated through
the app's own preprocessing, and weights + manifest + split are written.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from timm.data import Mixup
from torch import nn

from ml.engine.architectures import create_classifier_model
from ml.engine.data import (
    IMAGES_DIR,
    InMemoryDataset,
    Record,
    Split,
    read_metadata,
    split_by_lesion,
    subsample,
)
from ml.engine.evaluation.logits import array_batches, batched_logits, file_batches
from ml.engine.inference.preprocess import PreprocessConfig, normalise
from ml.engine.labels import HAM10000_CLASSES
from ml.engine.pretrained import load_pretrained, normalisation_for
from ml.engine.training.augment import AugmentConfig, augment_batch
from ml.engine.training.config import TrainConfig, config_from_args
from ml.engine.training.folds import Folds
from ml.engine.training.loop import TrainingLoop, TrainResult, begin
from ml.engine.training.utils import (
    class_weights,
    earlier_stages_of,
    freeze_early_layers,
    hardware_description,
    init_from_model,
    quick_metrics,
    selection_score,
    smooth_one_hot,
    weighted_soft_cross_entropy,
)

MEL = HAM10000_CLASSES.index("mel")


# -- helpers ---------------------------------------------------------------------------------------
def _teacher_probabilities(config: TrainConfig, train_set: InMemoryDataset, device: torch.device) -> np.ndarray:
    """Soft targets of the teacher (a model or an ensemble's members, averaged) on the clean training images."""
    from ml.engine.inference.ensemble_manifest import EnsembleManifest, load_manifest

    loaded = load_manifest(config.teacher)  # type: ignore[arg-type]
    teachers = loaded.member_manifests() if isinstance(loaded, EnsembleManifest) else [loaded]
    log_probs = []
    for teacher in teachers:
        model = teacher.build_model()
        batches = array_batches(
            train_set.images, teacher.height, teacher.width, teacher.mean, teacher.std, config.eval_batch_size
        )
        logits = torch.from_numpy(batched_logits(model, batches, device=device)[:, 0])
        log_probs.append(torch.log_softmax(logits / config.distill_temperature, dim=1))
        del model
    mean = torch.logsumexp(torch.stack(log_probs), dim=0) - float(np.log(len(log_probs)))
    return mean.exp().numpy()


# -- the run -----------------------------------------------------------------------------------------
def prepare_split(config: TrainConfig, records: list[Record]) -> Split:
    split_path = config.run_dir / "split.json"
    if config.resume and split_path.is_file():
        return Split.load(split_path)
    if config.folds_file is not None and config.fold is not None:
        split = Folds.load(config.folds_file).split_for(config.fold)
        _check_known(split, records, config.folds_file)
    elif config.split_file:
        split = Split.load(config.split_file)
        _check_known(split, records, config.split_file)
    else:
        split = split_by_lesion(records, seed=config.seed)
    split.save(split_path, metadata=str(config.metadata_path))
    return split


def _check_known(split: Split, records: list[Record], source: str) -> None:
    known = {r.image_id for r in records}
    missing = [i for i in (*split.train, *split.val, *split.test) if i not in known]
    if missing:
        raise ValueError(f"{source} lists {len(missing)} image ids not in the metadata (first: {missing[0]})")


def _validation_config(config: TrainConfig) -> PreprocessConfig:
    height, width = config.image_size
    mean, std = normalisation_for(config.arch)
    return PreprocessConfig(height=height, width=width, mean=(mean[0], mean[1], mean[2]), std=(std[0], std[1], std[2]))


def validate(
    model: nn.Module,
    images_dir: Path,
    val_ids: list[str],
    labels: np.ndarray,
    config: TrainConfig,
    device: torch.device,
) -> dict[str, float]:
    """Validation numbers of ``model`` with the photos prepared exactly as the app prepares an upload."""
    batches = file_batches(images_dir, val_ids, _validation_config(config), config.eval_batch_size)
    logits = batched_logits(model, batches, device=device)[:, 0]
    return quick_metrics(logits, labels)


def classifier_loss(
    config: TrainConfig,
    train_set: InMemoryDataset,
    device: torch.device,
    generator: torch.Generator,
    weights: torch.Tensor,
    teacher_probs: np.ndarray | None,
) -> Callable[[nn.Module, np.ndarray], torch.Tensor]:
    """The loss of a batch of training rows: augmented, mixed or smoothed, class-weighted, optionally distilled."""
    height, width = config.image_size
    mean, std = normalisation_for(config.arch)
    augment = AugmentConfig()
    amp_dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    amp_enabled = device.type == "cuda" or config.cpu_bf16
    classes = len(HAM10000_CLASSES)
    mixup = None
    if config.mixup > 0 or config.cutmix > 0:
        mixup = Mixup(  # type: ignore[no-untyped-call]  # timm: Mixup.__init__ is unannotated
            mixup_alpha=config.mixup,
            cutmix_alpha=config.cutmix,
            prob=config.mixup_prob,
            label_smoothing=config.label_smoothing,
            num_classes=classes,
        )

    def loss_of(model: nn.Module, index: np.ndarray) -> torch.Tensor:
        labels = torch.from_numpy(train_set.labels[index]).to(device)
        raw = torch.from_numpy(train_set.images[index]).to(device, non_blocking=True)
        batch = normalise(augment_batch(raw, height, width, augment, generator), mean, std)
        if mixup is not None and len(index) % 2 == 0:
            batch, targets = mixup(batch, labels)
        else:
            targets = smooth_one_hot(labels, classes, config.label_smoothing)
        batch = batch.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_enabled):
            logits = model(batch)
        loss = weighted_soft_cross_entropy(logits, targets, weights)
        if teacher_probs is not None:
            teacher = torch.from_numpy(teacher_probs[index]).to(device)
            log_student = F.log_softmax(logits.float() / config.distill_temperature, dim=1)
            distill = F.kl_div(log_student, teacher, reduction="batchmean") * config.distill_temperature**2
            loss = (1 - config.distill_alpha) * loss + config.distill_alpha * distill
        return loss

    return loss_of


def train(config: TrainConfig) -> TrainResult:
    """Run training end to end and write weights, manifest and split; see the module docstring."""
    started = time.time()
    device, run = begin(config)

    records = read_metadata(config.metadata_path)
    if config.max_images:
        records = subsample(records, config.max_images, seed=config.seed)
    split = prepare_split(config, records)
    by_id = {r.image_id: r for r in records}
    images_dir = config.data_dir / IMAGES_DIR
    t0 = time.time()
    train_set = InMemoryDataset.from_records(images_dir, [by_id[i] for i in split.train])
    val_labels = np.array([by_id[i].label for i in split.val], dtype=np.int64)
    print(
        f"decoded {len(train_set)} train images in {time.time() - t0:.1f}s; {len(split.val)} validation "
        f"images (read through the app's preprocessing each epoch); test split holds {len(split.test)} images",
        flush=True,
    )

    model = create_classifier_model(config.arch)
    if config.init_from:
        pretrained = init_from_model(model, config.arch, config.init_from)
    else:
        pretrained = load_pretrained(model, config.arch, config.pretrained)
    freeze = config.freeze_blocks
    if freeze < 0:
        freeze = 2 if config.pretrained != "none" or config.init_from else 0
    frozen = freeze_early_layers(model, freeze)
    model = model.to(device).to(memory_format=torch.channels_last)

    weights = class_weights(train_set.class_counts(), config.class_weight_power).to(device)
    loop = TrainingLoop(model, config, rows=len(train_set), device=device, run=run)
    teacher_probs = _teacher_probabilities(config, train_set, device) if config.teacher else None
    loss_of = classifier_loss(config, train_set, device, loop.generator, weights, teacher_probs)

    def score(entry: dict[str, Any]) -> float:
        entry["selection_score"] = selection_score(entry, config.select)
        return float(entry["selection_score"])

    loop.fit(
        loss_of=lambda index: loss_of(model, index),
        validate=lambda ema_model: validate(ema_model, images_dir, split.val, val_labels, config, device),
        score=score,
        describe=lambda e: (
            f"train_loss {e['train_loss']:.4f} | val_loss {e['val_loss']:.4f} acc {e['val_accuracy']:.4f} "
            f"bal_acc {e['val_balanced_accuracy']:.4f} mel_sens {e['val_mel_sensitivity']:.4f} "
            f"auc {e['val_auc_macro']:.4f} | {e['epoch_seconds']:.0f}s"
        ),
        config=asdict(config),
    )

    final = create_classifier_model(config.arch)
    final.load_state_dict(run.best_state())
    recipe = {
        **run.recipe(config.command if config.resume else None),
        "config": asdict(config),
        "hardware": {**hardware_description(device), "torch_threads": loop.tuner.max_threads},
        "pretrained": asdict(pretrained),
        "earlier_stages": earlier_stages_of(config.init_from) if config.init_from else [],
        "frozen": frozen,
        "class_weights": [round(float(w), 4) for w in weights.cpu()],
        "augment": asdict(AugmentConfig()),
        "optimizer": "timm create_optimizer_v2 adamw, CosineLRScheduler per update, ModelEmaV3",
        "train_images": len(split.train),
        "val_images": len(split.val),
        "test_images": len(split.test),
    }
    result = finalize(config, final, split, recipe, device)
    result.history = run.history
    result.best_epoch = run.best["epoch"]
    result.best_val = {k: v for k, v in run.best["metrics"].items() if isinstance(v, float)}
    result.seconds = time.time() - started
    return result


def finalize(
    config: TrainConfig, model: nn.Module, split: Split, recipe: dict[str, Any], device: torch.device
) -> TrainResult:
    """Save weights + manifest + split, calibrate on validation, evaluate the test split."""
    from ml.engine.manifest import save_model
    from ml.engine.training.calibrate import CalibrationChoice, calibrate_manifest, evaluate_into_manifest

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
    if not config.calibrate_and_evaluate:
        # e.g. on a GPU machine: calibration and the test split are measured later on the CPU.
        print(f"wrote {manifest_path} (not calibrated, not evaluated)", flush=True)
        return TrainResult(manifest_path=manifest_path, best_epoch=-1, best_val={})
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
    return TrainResult(manifest_path=manifest_path, best_epoch=-1, best_val={}, test=metrics["test"])


def main(argv: list[str] | None = None) -> int:
    config = config_from_args(argv)
    result = train(config)
    print(f"best epoch {result.best_epoch}; manifest {result.manifest_path}; {result.seconds / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
