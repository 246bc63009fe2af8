"""Fit a model's decision rule and temperature on its validation split, and record the test numbers.

    python -m ml.engine.training.calibrate --model NAME --data DATA [--min-recall mel=0.75] [--evaluate-test]

Training ends with the same steps (``ml.engine.training.train.finalize``); this command repeats them on a
shipped model without retraining, e.g. to set a clinical operating point. The app computes
``softmax((logits + bias) / T)``; on the validation images, through the app's own preprocessing:

1. a per-class logit bias (``fit_logit_bias``: balanced accuracy, plus accuracy if weighted),
   kept only if it carries over between halves of the validation split;
2. optional recall floors: the offset of a named class (e.g. melanoma) is raised by the
   smallest step that brings its validation recall to the floor (an operating point, the way a
   screening test's threshold is set on validation data);
3. the temperature, fitted on the biased logits so the shown probabilities are calibrated.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ml.engine.data import IMAGES_DIR, METADATA_NAME, Split
from ml.engine.evaluation.decision_rule import (
    can_cross_check,
    fit_logit_bias,
    fit_temperature,
    logit_bias_cross_check,
    softmax,
)
from ml.engine.manifest import Manifest, ManifestError

MASKS_DIR = "masks"


@dataclass
class CalibrationChoice:
    """How the decision rule is fitted on validation."""

    fit_logit_bias: bool = True
    bias_accuracy_weight: float = 0.0
    min_recall: dict[str, float] = field(default_factory=dict)  # class code -> recall floor on validation


def recall_floor_offsets(
    logits: np.ndarray,
    labels: np.ndarray,
    bias: np.ndarray,
    floors: dict[int, float],
    step: float = 0.05,
    limit: float = 6.0,
) -> np.ndarray:
    """Raise each floored class's offset by the smallest multiple of ``step`` that meets its floor.

    Classes are handled in order; raising one class's offset can only lower the others'
    recall, so a floor reached earlier is checked again at the end (ValueError if lost).
    """
    bias = np.asarray(bias, dtype=np.float64).copy()
    for cls, floor in floors.items():
        members = labels == cls
        if not members.any():
            raise ValueError(f"class {cls} has no validation images: its recall cannot be set")
        extra = 0.0
        while float(((logits + bias).argmax(axis=1)[members] == cls).mean()) < floor:
            extra += step
            bias[cls] += step
            if extra > limit + 1e-9:
                raise ValueError(f"class {cls} cannot reach recall {floor:.2f} on validation within +{limit}")
    predictions = (logits + bias).argmax(axis=1)
    for cls, floor in floors.items():
        if float((predictions[labels == cls] == cls).mean()) < floor:
            raise ValueError(f"recall floors conflict: class {cls} fell below {floor:.2f} after the others")
    return bias


def parse_min_recall(values: Sequence[str], classes: Sequence[str]) -> dict[str, float]:
    """``["mel=0.75"]`` -> ``{"mel": 0.75}``, with the class and the number checked."""
    floors: dict[str, float] = {}
    for value in values:
        name, sep, number = value.partition("=")
        if not sep or name not in classes:
            raise ValueError(f"--min-recall {value!r}: use CLASS=RECALL with CLASS one of {', '.join(classes)}")
        try:
            floor = float(number)
        except ValueError:
            raise ValueError(f"--min-recall {value!r}: {number!r} is not a number") from None
        if not 0.0 < floor <= 1.0:
            raise ValueError(f"--min-recall {value!r}: the recall must lie in (0, 1]")
        floors[name] = floor
    return floors


def calibrate_manifest(
    manifest_path: Path | str,
    images_dir: Path | str,
    metadata_csv: Path | str,
    val_ids: Sequence[str],
    choice: CalibrationChoice,
    device: torch.device | str = "cpu",
) -> Manifest:
    """Fit bias, recall floors and temperature on ``val_ids``; write them and the validation numbers."""
    from ml.engine.evaluation.evaluate import calibration_summary, predict_logits
    from ml.engine.evaluation.metrics import classification_metrics

    manifest = Manifest.load(manifest_path)
    model = manifest.build_model().to(device)
    logits, labels = predict_logits(model, manifest, images_dir, metadata_csv, list(val_ids), device=device)
    del model
    classes = list(manifest.classes)
    bias = np.zeros(len(classes))
    check = None
    if choice.fit_logit_bias:
        bias = fit_logit_bias(logits, labels, accuracy_weight=choice.bias_accuracy_weight)
        if can_cross_check(labels, len(classes)):
            check = logit_bias_cross_check(logits, labels, accuracy_weight=choice.bias_accuracy_weight)
    if choice.min_recall:
        floors = {classes.index(name): floor for name, floor in choice.min_recall.items()}
        bias = recall_floor_offsets(logits, labels, bias, floors)
    use_bias = choice.fit_logit_bias or bool(choice.min_recall)
    temperature = fit_temperature(logits + bias, labels)
    manifest.temperature = float(temperature)
    manifest.logit_bias = [round(float(b), 4) for b in bias] if use_bias else None
    applied = np.asarray(manifest.logit_bias) if manifest.logit_bias is not None else None
    objective = "balanced accuracy" + (
        f" + {choice.bias_accuracy_weight:g} x accuracy" if choice.bias_accuracy_weight else ""
    )
    manifest.training = dict(manifest.training or {})
    manifest.training["calibration"] = {
        "fitted_on": "val",
        "temperature": float(temperature),
        "logit_bias": manifest.logit_bias,
        "logit_bias_objective": objective if choice.fit_logit_bias else None,
        "logit_bias_cross_check": check,
        "min_recall": dict(choice.min_recall) or None,
        "val_images": len(labels),
        "choice": asdict(choice),
    }
    manifest.metrics = dict(manifest.metrics or {})
    manifest.metrics["val"] = {
        "metrics": classification_metrics(labels, softmax(logits, manifest.temperature, applied)),
        "calibration": calibration_summary(logits, labels, manifest.temperature, applied),
    }
    # Test numbers measured with an earlier decision rule no longer describe this manifest.
    manifest.metrics.pop("test", None)
    manifest.metrics.pop("test_tta", None)
    manifest.write(manifest.path or manifest_path)
    return manifest


def evaluate_into_manifest(
    manifest_path: Path | str,
    images_dir: Path | str,
    metadata_csv: Path | str,
    *,
    masks_dir: Path | str | None = None,
    tta: bool = False,
    device: str = "cpu",
    localisation_limit: int | None = 500,
    confusion_png: Path | str | None = None,
) -> dict[str, Any]:
    """Evaluate the test split and store the report(s) in the manifest (what the app shows)."""
    from ml.engine.evaluation.evaluate import evaluate

    report = evaluate(
        manifest_path,
        images_dir,
        metadata_csv,
        split="test",
        device=device,
        masks_dir=masks_dir,
        localisation_limit=localisation_limit,
        confusion_png=confusion_png,
    )
    manifest = Manifest.load(manifest_path)
    manifest.metrics = dict(manifest.metrics or {})
    manifest.metrics["test"] = report.to_dict()
    manifest.metrics["split"] = "test"
    if tta:
        manifest.metrics["test_tta"] = evaluate(
            manifest_path, images_dir, metadata_csv, split="test", tta=True, device=device
        ).to_dict()
    manifest.write(manifest.path or manifest_path)
    print(report.format_table(), flush=True)
    return manifest.metrics


def main(argv: Sequence[str] | None = None) -> int:
    from ml.engine.evaluation.evaluate import resolve_manifest

    parser = argparse.ArgumentParser(prog="python -m ml.engine.training.calibrate", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="manifest name in ml/weights or path to a manifest JSON")
    parser.add_argument("--data", required=True, help="HAM10000-layout folder (images/, metadata CSV, masks/)")
    parser.add_argument("--metadata", default=None, help="metadata CSV (default DATA/HAM10000_metadata.csv)")
    parser.add_argument("--no-logit-bias", action="store_true", help="plain argmax (no fitted bias)")
    parser.add_argument("--bias-accuracy-weight", type=float, default=0.0)
    parser.add_argument(
        "--min-recall", action="append", default=[], metavar="CLASS=RECALL", help="recall floor on validation"
    )
    parser.add_argument("--evaluate-test", action="store_true", help="then evaluate the test split into the manifest")
    parser.add_argument("--tta", action="store_true", help="with --evaluate-test: also the TTA numbers")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)

    try:
        path = resolve_manifest(args.model)
        manifest = Manifest.load(path)
        if manifest.split_path is None or not manifest.split_path.is_file():
            raise ManifestError(f"manifest {manifest.name!r} names no split file: no validation images to fit on")
        choice = CalibrationChoice(
            fit_logit_bias=not args.no_logit_bias,
            bias_accuracy_weight=args.bias_accuracy_weight,
            min_recall=parse_min_recall(args.min_recall, manifest.classes),
        )
    except (ManifestError, ValueError, FileNotFoundError) as exc:
        parser.error(str(exc))
    data = Path(args.data)
    metadata = Path(args.metadata) if args.metadata else data / METADATA_NAME
    split = Split.load(manifest.split_path)
    manifest = calibrate_manifest(path, data / IMAGES_DIR, metadata, split.val, choice, args.device)
    val = manifest.metrics["val"]["metrics"]
    print(
        f"{manifest.name}: T={manifest.temperature:.3f}, logit bias {manifest.logit_bias}; validation accuracy "
        f"{val['accuracy']:.4f}, balanced accuracy {val['balanced_accuracy']:.4f}, melanoma sensitivity "
        f"{val['melanoma']['sensitivity']:.4f}",
        flush=True,
    )
    if args.evaluate_test:
        masks = data / MASKS_DIR
        evaluate_into_manifest(
            path,
            data / IMAGES_DIR,
            metadata,
            masks_dir=masks if masks.is_dir() else None,
            tta=args.tta,
            device=args.device,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
