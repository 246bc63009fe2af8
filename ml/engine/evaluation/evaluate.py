"""Evaluate an analysis on labelled images through the app's own preprocessing.

``evaluate(manifest, images_dir, metadata_csv)`` reads every image listed in the metadata (or
the given ids / saved split) and returns an ``EvaluationReport``:

* a single model: its logits (optionally the mean over the four flips), the manifest's logit
  bias and temperature, calibration before/after temperature, the melanoma flag if the
  manifest sets a threshold;
* an ensemble manifest: exactly what the app runs (``Ensemble.analyse_batch``): every member,
  every view, the patient context taken from the metadata's ``age``/``sex``/``localization``,
  the top class and the melanoma flag as the app shows them.

With a masks folder it also measures how much of the Grad-CAM lies on the lesion.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from ml.engine.data import DataError, Record, image_path, read_metadata
from ml.engine.evaluation.decision_rule import softmax
from ml.engine.evaluation.localisation import gradcam_localisation
from ml.engine.evaluation.logits import batched_logits, file_batches
from ml.engine.evaluation.metrics import (
    classification_metrics,
    expected_calibration_error,
    nll,
    save_confusion_matrix_png,
)
from ml.engine.evaluation.report import EvaluationReport
from ml.engine.inference.context import context_of
from ml.engine.inference.ensemble import analyser_from_manifest
from ml.engine.inference.ensemble_manifest import AnyManifest, EnsembleManifest, load_manifest
from ml.engine.inference.preprocess import PreprocessConfig
from ml.engine.inference.views import FLIP_VIEWS
from ml.engine.manifest import SHIPPED_WEIGHTS_DIR, Manifest, ManifestError

WEIGHTS_DIR = SHIPPED_WEIGHTS_DIR


def resolve_manifest(name_or_path: str | Path, weights_dir: Path = WEIGHTS_DIR) -> Path:
    """A manifest name in ``ml/weights`` (``efficientnet_lite0_ham10000``) or a path to its JSON."""
    path = Path(name_or_path)
    if path.suffix == ".json" and path.is_file():
        return path
    candidate = weights_dir / f"{name_or_path}.json"
    if candidate.is_file():
        return candidate
    raise ManifestError(f"no manifest {name_or_path!r} (looked for {path} and {candidate})")


def labelled_records(
    images_dir: Path | str, metadata_csv: Path | str, image_ids: Sequence[str] | None = None
) -> tuple[list[Record], int]:
    """Metadata rows (optionally only ``image_ids``) whose image exists, and how many were not found."""
    found, missing = [], 0
    for record in read_metadata(metadata_csv, image_ids):
        try:
            image_path(images_dir, record.image_id)
        except DataError:
            missing += 1
            continue
        found.append(record)
    if not found:
        raise DataError(f"none of the images listed in {metadata_csv} were found in {images_dir}")
    return found, missing


def labelled_images(
    images_dir: Path | str, metadata_csv: Path | str, image_ids: Sequence[str] | None = None
) -> tuple[list[str], np.ndarray, int]:
    """Ids and labels of metadata rows whose image exists, and the number of listed images not found."""
    records, missing = labelled_records(images_dir, metadata_csv, image_ids)
    return [r.image_id for r in records], np.array([r.label for r in records], dtype=np.int64), missing


def model_logits(
    model: nn.Module,
    manifest: Manifest,
    images_dir: Path | str,
    ids: Sequence[str],
    *,
    device: torch.device | str = "cpu",
    tta: bool = False,
    batch_size: int = 32,
    progress: bool = False,
) -> np.ndarray:
    """Raw logits (N, classes) through the app's preprocessing; with ``tta`` the mean over the four flips."""
    batches = file_batches(images_dir, ids, PreprocessConfig.from_manifest(manifest), batch_size)
    views = FLIP_VIEWS if tta else ("identity",)
    logits = batched_logits(
        model, batches, views=views, device=device, progress=progress, total=-(-len(ids) // batch_size)
    )
    mean: np.ndarray = logits.mean(axis=1).astype(np.float64)
    return mean


def predict_logits(
    model: nn.Module,
    manifest: Manifest,
    images_dir: Path | str,
    metadata_csv: Path | str,
    image_ids: Sequence[str] | None = None,
    *,
    device: torch.device | str = "cpu",
    tta: bool = False,
    batch_size: int = 32,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Raw logits and labels of the listed images (see ``model_logits``)."""
    ids, labels, _ = labelled_images(images_dir, metadata_csv, image_ids)
    logits = model_logits(
        model, manifest, images_dir, ids, device=device, tta=tta, batch_size=batch_size, progress=progress
    )
    return logits, labels


def calibration_summary(
    logits: np.ndarray, labels: np.ndarray, temperature: float, bias: np.ndarray | None
) -> dict[str, Any]:
    """ECE and NLL of the deployed probabilities at T = 1 and at the manifest's temperature."""
    before = softmax(logits, 1.0, bias)
    after = softmax(logits, temperature, bias)
    return {
        "temperature": float(temperature),
        "logit_bias": None if bias is None else [float(b) for b in bias],
        "ece_before": expected_calibration_error(labels, before),
        "ece_after": expected_calibration_error(labels, after),
        "nll_before": nll(labels, before),
        "nll_after": nll(labels, after),
        "bins": 15,
    }


def _image_set_ids(
    manifest: AnyManifest, split: str | None, image_ids: Sequence[str] | None
) -> tuple[list[str] | None, str]:
    if split is None:
        return (list(image_ids) if image_ids is not None else None), "metadata"
    path = manifest.split_path
    if path is None or not path.is_file():
        raise ManifestError(f"manifest {manifest.name!r} has no saved split file")
    data = json.loads(path.read_text())
    if split not in data:
        raise ManifestError(f"split file {path.name} has no {split!r} split")
    ids = list(data[split])
    if image_ids is not None:
        wanted = set(image_ids)
        ids = [i for i in ids if i in wanted]
    return ids, f"{split} split"


def _analysed_as_the_app_does(
    manifest_path: Path, images_dir: Path | str, records: Sequence[Record], device: str, batch_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and top classes from the app's analyser, with each image's patient context."""
    probabilities, predictions = [], []
    with analyser_from_manifest(manifest_path, device=device) as analyser:
        classes = list(analyser.classes)
        for start in range(0, len(records), batch_size):
            chunk = records[start : start + batch_size]
            photos = [Image.open(image_path(images_dir, r.image_id)) for r in chunk]
            try:
                analyses = analyser.analyse_batch(
                    photos, gradcam=False, batch_size=batch_size, contexts=[context_of(r) for r in chunk]
                )
            finally:
                for photo in photos:
                    photo.close()
            for analysis in analyses:
                probabilities.append([analysis.probabilities[c] for c in classes])
                predictions.append(classes.index(analysis.top_class))
    return np.asarray(probabilities, dtype=np.float64), np.asarray(predictions, dtype=np.int64)


def evaluate(
    manifest_path: Path | str,
    images_dir: Path | str,
    metadata_csv: Path | str,
    image_ids: Sequence[str] | None = None,
    tta: bool = False,
    *,
    split: str | None = None,
    masks_dir: Path | str | None = None,
    device: str = "cpu",
    batch_size: int = 32,
    localisation_limit: int | None = None,
    confusion_png: Path | str | None = None,
    progress: bool = False,
) -> EvaluationReport:
    """Evaluate one manifest (a model or an ensemble) on the labelled images (see the module docstring)."""
    started = time.time()
    manifest = load_manifest(resolve_manifest(manifest_path))
    assert manifest.path is not None
    ids_filter, image_set = _image_set_ids(manifest, split, image_ids)
    records, missing = labelled_records(images_dir, metadata_csv, ids_filter)
    ids = [r.image_id for r in records]
    labels = np.array([r.label for r in records], dtype=np.int64)
    threshold = manifest.melanoma_threshold
    if isinstance(manifest, EnsembleManifest):
        if tta:
            raise ManifestError("an ensemble's views are part of its manifest: evaluate it without --tta")
        probabilities, predictions = _analysed_as_the_app_does(manifest.path, images_dir, records, device, batch_size)
        metrics = classification_metrics(labels, probabilities, predictions=predictions, melanoma_threshold=threshold)
        calibration: dict[str, Any] = {
            "temperature": manifest.temperature,
            "logit_bias": manifest.logit_bias,
            "ece_after": expected_calibration_error(labels, probabilities),
            "nll_after": nll(labels, probabilities),
            "bins": 15,
        }
        members = [m["name"] for m in manifest.members]
    else:
        model = manifest.build_model()
        logits = model_logits(
            model, manifest, images_dir, ids, device=device, tta=tta, batch_size=batch_size, progress=progress
        )
        del model
        bias = np.asarray(manifest.logit_bias, dtype=np.float64) if manifest.logit_bias is not None else None
        probabilities = softmax(logits, manifest.temperature, bias)
        metrics = classification_metrics(labels, probabilities, melanoma_threshold=threshold)
        calibration = calibration_summary(logits, labels, manifest.temperature, bias)
        members = []
    localisation = None
    if masks_dir is not None and not tta:
        localisation = gradcam_localisation(
            manifest.path,
            images_dir,
            masks_dir,
            ids,
            contexts=[context_of(r) for r in records],
            device=device,
            limit=localisation_limit,
        )
    report = EvaluationReport(
        model=manifest.name,
        architecture=manifest.architecture,
        manifest=str(manifest.path),
        images=len(ids),
        tta=tta,
        metrics=metrics,
        calibration=calibration,
        localisation=localisation,
        missing_images=missing,
        image_set=image_set,
        members=members,
    )
    if confusion_png is not None:
        title = f"{manifest.name} - {image_set}{' (TTA)' if tta else ''}, n={len(ids)}"
        report.confusion_png = str(save_confusion_matrix_png(metrics["confusion_matrix"], confusion_png, title=title))
    report.seconds = round(time.time() - started, 1)
    return report


def evaluate_mean_of_models(
    manifest_paths: Sequence[Path | str],
    images_dir: Path | str,
    metadata_csv: Path | str,
    image_ids: Sequence[str] | None = None,
    tta: bool = False,
    *,
    split: str | None = None,
    device: str = "cpu",
    batch_size: int = 32,
    confusion_png: Path | str | None = None,
    progress: bool = False,
) -> EvaluationReport:
    """Mean of several models' calibrated probabilities (an ad-hoc check; the split is the first model's)."""
    started = time.time()
    manifests = [Manifest.load(resolve_manifest(p)) for p in manifest_paths]
    ids_filter, image_set = _image_set_ids(manifests[0], split, image_ids)
    ids, labels, missing = labelled_images(images_dir, metadata_csv, ids_filter)
    probabilities = np.zeros((len(ids), len(manifests[0].classes)))
    for manifest in manifests:
        model = manifest.build_model()
        logits = model_logits(
            model, manifest, images_dir, ids, device=device, tta=tta, batch_size=batch_size, progress=progress
        )
        bias = np.asarray(manifest.logit_bias, dtype=np.float64) if manifest.logit_bias is not None else None
        probabilities += softmax(logits, manifest.temperature, bias) / len(manifests)
    metrics = classification_metrics(labels, probabilities)
    report = EvaluationReport(
        model=" + ".join(m.name for m in manifests),
        architecture="mean of calibrated probabilities",
        manifest=", ".join(str(m.path) for m in manifests),
        images=len(ids),
        tta=tta,
        metrics=metrics,
        calibration={
            "ece_after": expected_calibration_error(labels, probabilities),
            "nll_after": nll(labels, probabilities),
            "bins": 15,
        },
        missing_images=missing,
        image_set=image_set,
        members=[m.name for m in manifests],
    )
    if confusion_png is not None:
        title = f"mean of models - {image_set}{' (TTA)' if tta else ''}, n={len(ids)}"
        report.confusion_png = str(save_confusion_matrix_png(metrics["confusion_matrix"], confusion_png, title=title))
    report.seconds = round(time.time() - started, 1)
    return report


def invoked_command(argv: Sequence[str] | None = None) -> str:
    """The command line that is running, as someone would type it again."""
    argv = list(sys.argv if argv is None else argv)
    if argv and Path(argv[0]).name == "manage.py":
        return shlex.join(["python", "manage.py", *argv[1:]])
    return shlex.join(["python", "-m", "ml.engine.evaluation.evaluate", *argv[1:]])


def confusion_png_for(json_path: Path | str) -> Path:
    """Where the confusion-matrix picture goes next to a JSON report."""
    path = Path(json_path)
    return path.with_name(path.stem + ".confusion.png")


# -- CLI (the Django command ``manage.py evaluate`` wraps the same function) --------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ml.engine.evaluation.evaluate", description=__doc__.split("\n")[0])
    add_arguments(parser, model_required=True)
    return parser


def add_arguments(parser: argparse.ArgumentParser, *, model_required: bool = False) -> None:
    parser.add_argument(
        "--model",
        required=model_required,
        action="append",
        default=None,
        help="manifest name in ml/weights or path to a manifest JSON (a model or an ensemble); "
        "repeat for the mean of several models; without it (manage.py) the app's default analysis",
    )
    parser.add_argument("--images", required=True, help="folder with the images")
    parser.add_argument(
        "--metadata", required=True, help="CSV with image_id,lesion_id,dx (and age,sex,localization); only these"
    )
    parser.add_argument("--json", default=None, help="write the report as JSON to FILE ('-' for stdout)")
    parser.add_argument("--masks", default=None, help="folder with ISIC_xxx_segmentation.png lesion masks")
    parser.add_argument("--tta", action="store_true", help="single models: average logits over the four flips")
    parser.add_argument("--split", default=None, choices=["train", "val", "test"], help="only the saved split")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--localisation-limit", type=int, default=None, help="at most N images for Grad-CAM")


def run_from_args(args: argparse.Namespace, out: Any = sys.stdout) -> EvaluationReport:
    """Run an evaluation from parsed arguments, print the table and write the JSON/PNG."""
    json_target = args.json
    png = confusion_png_for(json_target) if json_target and json_target != "-" else None
    if len(args.model) > 1:
        report = evaluate_mean_of_models(
            args.model,
            args.images,
            args.metadata,
            tta=args.tta,
            split=args.split,
            device=args.device,
            batch_size=args.batch_size,
            confusion_png=png,
        )
    else:
        report = evaluate(
            args.model[0],
            args.images,
            args.metadata,
            tta=args.tta,
            split=args.split,
            masks_dir=args.masks,
            device=args.device,
            batch_size=args.batch_size,
            localisation_limit=args.localisation_limit,
            confusion_png=png,
        )
    report.command = invoked_command()
    text = json.dumps(report.to_dict(), indent=2)
    if json_target == "-":
        out.write(text + "\n")
    else:
        out.write(report.format_table() + "\n")
        if json_target:
            Path(json_target).parent.mkdir(parents=True, exist_ok=True)
            Path(json_target).write_text(text + "\n")
            out.write(f"wrote {json_target} and {png}\n")
    return report


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run_from_args(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = [
    "EvaluationReport",
    "calibration_summary",
    "evaluate",
    "evaluate_mean_of_models",
    "labelled_images",
    "labelled_records",
    "model_logits",
    "predict_logits",
    "resolve_manifest",
]
