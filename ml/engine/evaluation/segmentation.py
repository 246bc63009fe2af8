"""Measure a segmentation model against ground-truth masks: mean Dice, mean Jaccard and threshold Jaccard.

``python -m ml.engine.evaluation.segmentation --images DIR --masks DIR [--model NAME] [--split test] [--json FILE]``

Each photo goes through the app's own path (``Segmenter.segment``: preprocessing, mapping back
onto the photo, cleaning) and is scored at the ground-truth mask's resolution (the photo's own
for HAM10000). The ISIC 2018 Task 1 "threshold Jaccard" counts a per-image Jaccard below 0.65
as 0. The JSON report has top-level ``dice``, ``jaccard`` and ``threshold_jaccard``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from ml.engine.data import DataError, decode_mask, image_path, mask_path
from ml.engine.manifest import SHIPPED_WEIGHTS_DIR, ManifestError
from ml.engine.segmentation.model import SegmentationManifest, Segmenter, find_segmentation_manifests

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

THRESHOLD_JACCARD_CUTOFF = 0.65  # ISIC 2018 Task 1
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def dice_score(prediction: np.ndarray, truth: np.ndarray) -> float:
    """2|P∩T| / (|P| + |T|) of two boolean masks; 1 when both are empty."""
    p, t = np.asarray(prediction, dtype=bool), np.asarray(truth, dtype=bool)
    if p.shape != t.shape:
        raise ValueError(f"masks differ in shape: {p.shape} vs {t.shape}")
    total = int(p.sum()) + int(t.sum())
    return 1.0 if total == 0 else 2.0 * int(np.logical_and(p, t).sum()) / total


def jaccard_score(prediction: np.ndarray, truth: np.ndarray) -> float:
    """|P∩T| / |P∪T| of two boolean masks; 1 when both are empty."""
    p, t = np.asarray(prediction, dtype=bool), np.asarray(truth, dtype=bool)
    if p.shape != t.shape:
        raise ValueError(f"masks differ in shape: {p.shape} vs {t.shape}")
    union = int(np.logical_or(p, t).sum())
    return 1.0 if union == 0 else int(np.logical_and(p, t).sum()) / union


def threshold_jaccard(
    jaccards: Sequence[float] | npt.NDArray[np.float64], cutoff: float = THRESHOLD_JACCARD_CUTOFF
) -> float:
    """Mean of the per-image Jaccard indices with those below ``cutoff`` counted as 0 (ISIC 2018)."""
    values = np.asarray(jaccards, dtype=np.float64)
    if values.size == 0:
        return float("nan")
    return float(np.where(values >= cutoff, values, 0.0).mean())


@dataclass
class SegmentationReport:
    """Scores of a model on a set of photos with ground-truth masks."""

    model: str
    n: int
    dice: float
    jaccard: float
    threshold_jaccard: float
    per_image_stats: dict[str, float] = field(default_factory=dict)
    per_image: list[dict[str, Any]] = field(default_factory=list)
    split: str | None = None
    missing_masks: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        """The report without the per-image rows (what a manifest stores)."""
        data = asdict(self)
        data.pop("per_image")
        data["missing_masks"] = len(self.missing_masks)
        return data

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarise(model: str, ids: Sequence[str], dices: Sequence[float], jaccards: Sequence[float]) -> SegmentationReport:
    """Mean Dice, mean Jaccard, threshold Jaccard and the spread of the per-image Jaccard."""
    d = np.asarray(dices, dtype=np.float64)
    j = np.asarray(jaccards, dtype=np.float64)
    stats: dict[str, float] = {}
    if j.size:
        stats = {
            "jaccard_median": float(np.median(j)),
            "jaccard_p10": float(np.percentile(j, 10)),
            "jaccard_min": float(j.min()),
            "dice_median": float(np.median(d)),
            "share_below_cutoff": float((j < THRESHOLD_JACCARD_CUTOFF).mean()),
        }
    return SegmentationReport(
        model=model,
        n=int(j.size),
        dice=float(d.mean()) if d.size else float("nan"),
        jaccard=float(j.mean()) if j.size else float("nan"),
        threshold_jaccard=threshold_jaccard(j),
        per_image_stats=stats,
        per_image=[
            {"image_id": i, "dice": round(float(a), 5), "jaccard": round(float(b), 5)}
            for i, a, b in zip(ids, d, j, strict=True)
        ],
    )


def score_segmenter(
    segmenter: Segmenter,
    images_dir: Path | str,
    masks_dir: Path | str,
    ids: Sequence[str],
    *,
    batch_size: int = 32,
    name: str | None = None,
) -> SegmentationReport:
    """Segment each photo as the app does and score it against its mask (ids without a mask are listed, not scored)."""
    started = time.time()
    scored: list[str] = []
    missing: list[str] = []
    dices: list[float] = []
    jaccards: list[float] = []
    with_masks: list[tuple[str, Path]] = []
    for image_id in ids:
        path = mask_path(masks_dir, image_id)
        if path is None:
            missing.append(image_id)
        else:
            with_masks.append((image_id, path))
    for start in range(0, len(with_masks), batch_size):
        chunk = with_masks[start : start + batch_size]
        with contextlib.ExitStack() as stack:
            photos = [stack.enter_context(Image.open(image_path(images_dir, i))) for i, _ in chunk]
            results = segmenter.segment_batch(photos, batch_size=batch_size)
        for (image_id, path), result in zip(chunk, results, strict=True):
            truth = _read_mask(path)
            predicted = result.mask_at(truth.shape)
            dices.append(dice_score(predicted, truth))
            jaccards.append(jaccard_score(predicted, truth))
            scored.append(image_id)
    report = summarise(name or segmenter.manifest.name, scored, dices, jaccards)
    report.missing_masks = missing
    report.seconds = round(time.time() - started, 1)
    return report


def _read_mask(path: Path) -> np.ndarray:
    """A ground-truth mask at its own resolution, as booleans (white = lesion)."""
    with Image.open(path) as image:
        height, width = image.height, image.width
    return decode_mask(path, height, width) > 0


def resolve_segmentation_manifest(name: str | None, weights_dir: Path | str | None = None) -> Path:
    """A segmentation manifest by path or by name in the weights folder (the first one when None)."""
    weights_dir = Path(weights_dir) if weights_dir else SHIPPED_WEIGHTS_DIR
    if name and Path(name).suffix == ".json" and Path(name).is_file():
        return Path(name)
    found = {SegmentationManifest.load(p).name: p for p in find_segmentation_manifests(weights_dir)}
    if not found:
        raise ManifestError(f"no segmentation manifests in {weights_dir}")
    if name is None:
        return found[sorted(found)[0]]
    if name not in found:
        raise ManifestError(f"no segmentation model named {name!r} in {weights_dir} (have: {', '.join(sorted(found))})")
    return found[name]


def image_ids(images_dir: Path | str, manifest: SegmentationManifest, split: str | None) -> list[str]:
    """The ids to score: one side of the manifest's split, or every image in the folder."""
    if split:
        from ml.engine.data import Split

        split_path = manifest.split_path
        if split_path is None or not split_path.is_file():
            raise DataError(f"model {manifest.name!r} names no split file, so --split {split} cannot be used")
        return Split.load(split_path).ids(split)
    folder = Path(images_dir)
    if not folder.is_dir():
        raise DataError(f"image folder not found: {folder}")
    return sorted(p.stem for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def evaluate_segmentation(
    manifest_path: Path | str,
    images_dir: Path | str,
    masks_dir: Path | str,
    *,
    split: str | None = None,
    limit: int | None = None,
    batch_size: int = 32,
    device: str | None = None,
) -> SegmentationReport:
    """Score a shipped segmentation model on a folder of photos and masks (optionally one split side)."""
    segmenter = Segmenter.from_manifest(manifest_path, device=device)
    ids = image_ids(images_dir, segmenter.manifest, split)
    if limit:
        ids = ids[:limit]
    report = score_segmenter(segmenter, images_dir, masks_dir, ids, batch_size=batch_size)
    report.split = split
    return report


def format_report(report: SegmentationReport) -> str:
    """A few lines for the terminal."""
    stats = report.per_image_stats
    skipped = f" ({len(report.missing_masks)} without a mask skipped)" if report.missing_masks else ""
    cutoff = THRESHOLD_JACCARD_CUTOFF
    lines = [
        f"model {report.model}" + (f" on the {report.split} split" if report.split else ""),
        f"images scored: {report.n}{skipped}",
        f"mean Dice          {report.dice:.4f}",
        f"mean Jaccard       {report.jaccard:.4f}",
        f"threshold Jaccard  {report.threshold_jaccard:.4f}  (per-image Jaccard < {cutoff} counts as 0)",
    ]
    if stats:
        lines.append(
            f"per image: Jaccard median {stats['jaccard_median']:.4f}, 10th percentile {stats['jaccard_p10']:.4f}, "
            f"{stats['share_below_cutoff']:.1%} below {THRESHOLD_JACCARD_CUTOFF}"
        )
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command-line options (shared with ``manage.py evaluate_segmentation``)."""
    parser.add_argument("--images", required=True, help="folder of photos (ISIC_x.jpg)")
    parser.add_argument("--masks", required=True, help="folder of masks (ISIC_x_segmentation.png, white = lesion)")
    parser.add_argument("--model", default=None, help="segmentation model name or manifest path [first shipped]")
    parser.add_argument(
        "--split", choices=("train", "val", "test"), default=None, help="score one side of the model's split"
    )
    parser.add_argument("--json", default=None, help="write the report here ('-' prints it)")
    parser.add_argument("--limit", type=int, default=None, help="score only the first N images")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default=None, help="cpu or cuda [where the model loads]")


def run_from_args(
    args: argparse.Namespace, out: SupportsWrite[str] = sys.stdout, weights_dir: Path | str | None = None
) -> dict[str, Any]:
    """Evaluate as the options say, print the summary (or the JSON with ``--json -``) and write the JSON file."""
    manifest_path = resolve_segmentation_manifest(args.model, weights_dir)
    report = evaluate_segmentation(
        manifest_path,
        args.images,
        args.masks,
        split=args.split,
        limit=args.limit,
        batch_size=args.batch_size,
        device=args.device,
    )
    data = report.to_dict()
    if args.json == "-":
        out.write(json.dumps(data, indent=1) + "\n")
        return data
    out.write(format_report(report) + "\n")
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=1) + "\n")
        out.write(f"wrote {path}\n")
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ml.engine.evaluation.segmentation", description="Score a lesion segmentation model."
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        run_from_args(args)
    except (ManifestError, DataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
