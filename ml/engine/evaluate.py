"""Evaluate shipped models on labelled images through the app's own preprocessing.

``evaluate(manifest, images_dir, metadata_csv)`` reads every image listed in the metadata
(or the given ids), prepares it exactly as the app does (``ml.engine.preprocess``), applies
the manifest's logit bias and temperature, and returns an ``EvaluationReport`` with the
headline metrics, calibration before/after temperature and, with a masks folder, how much
of the Grad-CAM lies on the lesion (computed with the app's ``Classifier``).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from ml.engine.architectures import HAM10000_CLASSES
from ml.engine.augment import tta_views
from ml.engine.calibration import softmax
from ml.engine.data import DataError, image_path, mask_path, read_metadata
from ml.engine.manifest import SHIPPED_WEIGHTS_DIR, Manifest, ManifestError
from ml.engine.metrics import classification_metrics, expected_calibration_error, nll, save_confusion_matrix_png
from ml.engine.preprocess import PreprocessConfig, prepare_model_input

WEIGHTS_DIR = SHIPPED_WEIGHTS_DIR
TTA_VIEWS = 4  # identity and the three flips


@dataclass
class EvaluationReport:
    """Measured performance of one model (or an ensemble) on one set of labelled images."""

    model: str
    architecture: str
    manifest: str
    images: int
    tta: bool
    metrics: dict[str, Any]
    calibration: dict[str, Any]
    localisation: dict[str, Any] | None = None
    missing_images: int = 0
    image_set: str = ""
    seconds: float = 0.0
    confusion_png: str | None = None
    members: list[str] = field(default_factory=list)
    command: str = ""  # how the report was made (set by the command line)

    def to_dict(self) -> dict[str, Any]:
        return _json_safe(asdict(self))

    def format_table(self) -> str:
        """A readable summary: headline numbers, then per-class precision/recall/F1/AUC."""
        m = self.metrics
        mel = m.get("melanoma", {})
        lines = [
            f"model {self.model} ({self.architecture}) on {self.images} images"
            f"{' [' + self.image_set + ']' if self.image_set else ''}{' with TTA' if self.tta else ''}",
            f"  accuracy           {m['accuracy']:.4f}",
            f"  balanced accuracy  {m['balanced_accuracy']:.4f}",
            f"  macro F1           {m['macro_f1']:.4f}",
            f"  macro AUC (OvR)    {_fmt(m['auc_macro'])}",
            f"  melanoma sens/spec {_fmt(mel.get('sensitivity'))} / {_fmt(mel.get('specificity'))}",
            f"  ECE (15 bins)      {_fmt(self.calibration.get('ece_before'))} before temperature, "
            f"{_fmt(self.calibration.get('ece_after'))} after (T={_fmt(self.calibration.get('temperature'))})",
            "",
            f"  {'class':<6} {'precision':>9} {'recall':>7} {'f1':>7} {'auc':>7} {'support':>8}",
        ]
        for name, row in m["per_class"].items():
            lines.append(
                f"  {name:<6} {row['precision']:>9.3f} {row['recall']:>7.3f} {row['f1']:>7.3f} "
                f"{_fmt(row['auc'], 3):>7} {row['support']:>8d}"
            )
        lines += ["", "  confusion matrix (rows true, columns predicted):"]
        lines.append("  " + " " * 6 + "".join(f"{c:>7}" for c in HAM10000_CLASSES))
        for name, row in zip(HAM10000_CLASSES, m["confusion_matrix"], strict=True):
            lines.append(f"  {name:<6}" + "".join(f"{v:>7d}" for v in row))
        if self.localisation:
            loc = self.localisation
            lines += [
                "",
                f"  Grad-CAM on {loc['images']} images with masks: {loc['cam_mass_in_lesion']:.3f} of the "
                f"CAM mass inside the lesion (lesion covers {loc['lesion_area_share']:.3f} of the photo); "
                f"pointing game {loc['pointing_game']:.3f}",
            ]
        if self.missing_images:
            lines.append(f"  ({self.missing_images} listed images were not found and were skipped)")
        return "\n".join(lines)


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "n/a"
    return f"{float(value):.{digits}f}"


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float):
        return None if value != value else round(value, 6)
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    return value


def resolve_manifest(name_or_path: str | Path, weights_dir: Path = WEIGHTS_DIR) -> Path:
    """A manifest name in ``ml/weights`` (``efficientnet_lite0_ham10000``) or a path to its JSON."""
    path = Path(name_or_path)
    if path.suffix == ".json" and path.is_file():
        return path
    candidate = weights_dir / f"{name_or_path}.json"
    if candidate.is_file():
        return candidate
    raise ManifestError(f"no manifest {name_or_path!r} (looked for {path} and {candidate})")


def labelled_images(
    images_dir: Path | str, metadata_csv: Path | str, image_ids: Sequence[str] | None = None
) -> tuple[list[str], np.ndarray, int]:
    """Ids and labels of metadata rows (optionally only ``image_ids``) whose image exists.

    Returns (ids, labels, number of listed images that were not found).
    """
    records = read_metadata(metadata_csv, image_ids)
    ids, labels, missing = [], [], 0
    for record in records:
        try:
            image_path(images_dir, record.image_id)
        except DataError:
            missing += 1
            continue
        ids.append(record.image_id)
        labels.append(record.label)
    if not ids:
        raise DataError(f"none of the images listed in {metadata_csv} were found in {images_dir}")
    return ids, np.array(labels, dtype=np.int64), missing


@torch.inference_mode()
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
    """Raw logits (TTA: the mean over flips and transposes) and labels, app preprocessing."""
    ids, labels, _ = labelled_images(images_dir, metadata_csv, image_ids)
    return _logits_for(model, manifest, images_dir, ids, device, tta, batch_size, progress), labels


def _logits_for(
    model: nn.Module,
    manifest: Manifest,
    images_dir: Path | str,
    ids: Sequence[str],
    device: torch.device | str,
    tta: bool,
    batch_size: int,
    progress: bool,
) -> np.ndarray:
    from tqdm import tqdm

    config = PreprocessConfig.from_manifest(manifest)
    device = torch.device(device)
    model = model.eval().to(device).to(memory_format=torch.channels_last)
    out: list[np.ndarray] = []
    starts = range(0, len(ids), batch_size)
    for start in tqdm(starts, desc="evaluate", disable=not progress, file=sys.stderr, mininterval=5.0):
        tensors = []
        for image_id in ids[start : start + batch_size]:
            with Image.open(image_path(images_dir, image_id)) as photo:
                tensors.append(prepare_model_input(photo, config).tensor)
        batch = torch.stack(tensors).to(device)
        views = tta_views(batch, TTA_VIEWS) if tta else [batch]
        total = None
        for view in views:
            with (
                torch.inference_mode(),
                torch.autocast(device.type, dtype=torch.float16, enabled=device.type == "cuda"),
            ):
                logits = model(view.contiguous(memory_format=torch.channels_last)).float()
            total = logits if total is None else total + logits
        assert total is not None
        out.append((total / len(views)).cpu().numpy())
    return np.concatenate(out).astype(np.float64)


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


def gradcam_localisation(
    manifest_path: Path | str,
    images_dir: Path | str,
    masks_dir: Path | str,
    ids: Sequence[str],
    *,
    device: str = "cpu",
    limit: int | None = None,
    batch_size: int = 16,
) -> dict[str, Any] | None:
    """How well the app's Grad-CAM (top class) falls on the lesion masks.

    ``cam_mass_in_lesion``: mean share of the CAM's mass inside the mask (compare with
    ``lesion_area_share``, what a uniform map would score); ``pointing_game``: share of images
    whose CAM maximum lies inside the mask.
    """
    import cv2

    from ml.engine.classifier import Classifier

    pairs = [(i, mask_path(masks_dir, i)) for i in ids]
    pairs = [(i, p) for i, p in pairs if p is not None]
    if limit is not None:
        pairs = pairs[:limit]
    if not pairs:
        return None
    mass, area, hits = [], [], []
    with Classifier.from_manifest(manifest_path, device=device) as classifier:
        for start in range(0, len(pairs), batch_size):
            chunk = pairs[start : start + batch_size]
            photos = [Image.open(image_path(images_dir, i)) for i, _ in chunk]
            try:
                analyses = classifier.analyse_batch(photos, gradcam=True, batch_size=batch_size)
            finally:
                for photo in photos:
                    photo.close()
            for (_, mpath), analysis in zip(chunk, analyses, strict=True):
                cam = analysis.cam
                mask = cv2.imread(str(mpath), cv2.IMREAD_GRAYSCALE)
                if cam is None or mask is None:
                    continue
                if mask.shape != cam.shape:
                    mask = cv2.resize(mask, (cam.shape[1], cam.shape[0]), interpolation=cv2.INTER_NEAREST)
                inside = mask > 127
                total = float(cam.sum())
                mass.append(float(cam[inside].sum()) / total if total > 0 else 0.0)
                area.append(float(inside.mean()))
                hits.append(bool(inside.flat[int(np.argmax(cam))]))
    if not mass:
        return None
    return {
        "images": len(mass),
        "cam_mass_in_lesion": float(np.mean(mass)),
        "lesion_area_share": float(np.mean(area)),
        "pointing_game": float(np.mean(hits)),
        "cam_class": "top predicted class",
    }


def _image_set_ids(
    manifest: Manifest, split: str | None, image_ids: Sequence[str] | None
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
    """Evaluate one manifest on the labelled images (see the module docstring)."""
    started = time.time()
    manifest = Manifest.load(resolve_manifest(manifest_path))
    ids_filter, image_set = _image_set_ids(manifest, split, image_ids)
    ids, labels, missing = labelled_images(images_dir, metadata_csv, ids_filter)
    model = manifest.build_model()
    logits = _logits_for(model, manifest, images_dir, ids, device, tta, batch_size, progress)
    del model
    bias = np.asarray(manifest.logit_bias, dtype=np.float64) if manifest.logit_bias is not None else None
    probabilities = softmax(logits, manifest.temperature, bias)
    metrics = classification_metrics(labels, probabilities)
    localisation = None
    if masks_dir is not None and not tta:
        localisation = gradcam_localisation(
            manifest.path,  # type: ignore[arg-type]
            images_dir,
            masks_dir,
            ids,
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
        calibration=calibration_summary(logits, labels, manifest.temperature, bias),
        localisation=localisation,
        missing_images=missing,
        image_set=image_set,
    )
    if confusion_png is not None:
        title = f"{manifest.name} - {image_set}{' (TTA)' if tta else ''}, n={len(ids)}"
        report.confusion_png = str(save_confusion_matrix_png(metrics["confusion_matrix"], confusion_png, title=title))
    report.seconds = round(time.time() - started, 1)
    return report


def evaluate_ensemble(
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
    """Mean of the members' calibrated probabilities; the split is taken from the first member."""
    started = time.time()
    manifests = [Manifest.load(resolve_manifest(p)) for p in manifest_paths]
    ids_filter, image_set = _image_set_ids(manifests[0], split, image_ids)
    ids, labels, missing = labelled_images(images_dir, metadata_csv, ids_filter)
    probabilities = np.zeros((len(ids), len(HAM10000_CLASSES)))
    for manifest in manifests:
        model = manifest.build_model()
        logits = _logits_for(model, manifest, images_dir, ids, device, tta, batch_size, progress)
        bias = np.asarray(manifest.logit_bias, dtype=np.float64) if manifest.logit_bias is not None else None
        probabilities += softmax(logits, manifest.temperature, bias) / len(manifests)
    metrics = classification_metrics(labels, probabilities)
    name = " + ".join(m.name for m in manifests)
    report = EvaluationReport(
        model=name,
        architecture="ensemble (mean of calibrated probabilities)",
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
        title = f"ensemble - {image_set}{' (TTA)' if tta else ''}, n={len(ids)}"
        report.confusion_png = str(save_confusion_matrix_png(metrics["confusion_matrix"], confusion_png, title=title))
    report.seconds = round(time.time() - started, 1)
    return report


def invoked_command(argv: Sequence[str] | None = None) -> str:
    """The command line that is running, as someone would type it again."""
    argv = list(sys.argv if argv is None else argv)
    if argv and Path(argv[0]).name == "manage.py":
        return shlex.join(["python", "manage.py", *argv[1:]])
    return shlex.join(["python", "-m", "ml.engine.evaluate", *argv[1:]])


def confusion_png_for(json_path: Path | str) -> Path:
    """Where the confusion-matrix picture goes next to a JSON report."""
    path = Path(json_path)
    return path.with_name(path.stem + ".confusion.png")


# -- CLI (the Django command ``manage.py evaluate`` wraps the same function) --------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ml.engine.evaluate", description=__doc__.split("\n")[0])
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        required=True,
        action="append",
        help="manifest name in ml/weights or path to a manifest JSON; repeat for an ensemble",
    )
    parser.add_argument("--images", required=True, help="folder with the images")
    parser.add_argument("--metadata", required=True, help="CSV with image_id,lesion_id,dx (only these are used)")
    parser.add_argument("--json", default=None, help="write the report as JSON to FILE ('-' for stdout)")
    parser.add_argument("--masks", default=None, help="folder with ISIC_xxx_segmentation.png lesion masks")
    parser.add_argument("--tta", action="store_true", help="average logits over flips and transposes")
    parser.add_argument("--split", default=None, choices=["train", "val", "test"], help="only the saved split")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--localisation-limit", type=int, default=None, help="at most N images for Grad-CAM")


def run_from_args(args: argparse.Namespace, out: Any = sys.stdout) -> EvaluationReport:
    """Run an evaluation from parsed arguments, print the table and write the JSON/PNG."""
    json_target = args.json
    png = confusion_png_for(json_target) if json_target and json_target != "-" else None
    if len(args.model) > 1:
        report = evaluate_ensemble(
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
    "evaluate_ensemble",
    "gradcam_localisation",
    "labelled_images",
    "predict_logits",
    "resolve_manifest",
]
