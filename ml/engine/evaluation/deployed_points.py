"""The deployed analysis's operating points, chosen on validation and measured on test: melanoma bands, heatmap warning.

``python -m ml.engine.evaluation.deployed_points --model MANIFEST --segmenter MANIFEST --data DATA --out REPORT``
runs the analysis exactly as the app does (Grad-CAM, the melanoma readings, the lesion outline of the
shipped segmenter) on the validation and the test photos of the model's split, and:

- **melanoma bands**: the flag threshold is the manifest's (chosen on validation for high
  sensitivity); the "high" cut is the lowest P(mel) at which validation specificity reaches
  ``HIGH_SPECIFICITY``. For each cut, test sensitivity and specificity; for the flag, also the
  rule the app raises it by (flagged, or borderline: the middle half of the readings straddles
  the threshold);
- **heatmap warning**: a heatmap's concentration on the lesion is the share of its mass inside the
  outline divided by the share of the photo the outline covers (1 = no better than chance). The
  warning cut is the concentration below which ``WARNING_RATE`` of the correctly classified
  validation photos fall; the report gives how often it fires on correctly and wrongly classified
  test photos.

``--write-manifest`` stores the points in the manifest (``metrics.test.melanoma_operating_points``,
``metrics.explanation``), where the app reads them. The test split chooses nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

HIGH_SPECIFICITY = 0.95
WARNING_RATE = 0.10


@dataclass
class PhotoResult:
    image_id: str
    label: int
    top: int
    p_mel: float
    low: float | None
    high: float | None
    concentration: float | None  # None: no outline or no heatmap mass


def analyse_split(
    analyser: Any, segmenter: Any, images_dir: Path, ids: list[str], labels: dict[str, int], progress: bool = True
) -> list[PhotoResult]:
    """The app's analysis (with Grad-CAM) and outline of each photo."""
    from PIL import Image

    from ml.engine.data import image_path
    from ml.engine.segmentation.measurements import cam_mass_in_mask

    out: list[PhotoResult] = []
    started = time.time()
    for index, image_id in enumerate(ids):
        with Image.open(image_path(images_dir, image_id)) as photo:
            analysis = analyser.analyse(photo, gradcam=True)
            segmentation = segmenter.segment(analysis.model_input) if analysis.model_input is not None else None
        concentration = None
        cam = analysis.cam_uint8()
        if segmentation is not None and segmentation.found and cam is not None:
            mask = segmentation.mask_at(cam.shape)
            share = cam_mass_in_mask(cam.astype(np.float32), mask)
            covered = float(mask.mean())
            if share is not None and covered > 0:
                concentration = share / covered
        low, high = analysis.melanoma_range if analysis.melanoma_range is not None else (None, None)
        out.append(
            PhotoResult(
                image_id=image_id,
                label=labels[image_id],
                top=list(analyser.classes).index(analysis.top_class),
                p_mel=float(analysis.probabilities["mel"]),
                low=low,
                high=high,
                concentration=concentration,
            )
        )
        if progress and (index + 1) % 100 == 0:
            print(f"  {index + 1}/{len(ids)} photos, {time.time() - started:.0f}s", flush=True)
    return out


def _rates(flagged: npt.NDArray[np.bool_], is_mel: npt.NDArray[np.bool_]) -> tuple[float, float]:
    sensitivity = float(flagged[is_mel].mean()) if is_mel.any() else float("nan")
    specificity = float((~flagged[~is_mel]).mean()) if (~is_mel).any() else float("nan")
    return sensitivity, specificity


def high_cut(results: list[PhotoResult], mel: int, specificity: float = HIGH_SPECIFICITY) -> float:
    """The lowest P(mel) cut at which the specificity on ``results`` reaches ``specificity``."""
    p = np.array([r.p_mel for r in results])
    others = np.sort(p[np.array([r.label != mel for r in results])])
    index = min(len(others) - 1, int(np.ceil(specificity * len(others))) - 1)
    return float(np.nextafter(others[index], 1.0))


def borderline_or_above(results: list[PhotoResult], threshold: float) -> npt.NDArray[np.bool_]:
    return np.array(
        [
            r.p_mel >= threshold or (r.low is not None and r.high is not None and r.low < threshold <= r.high)
            for r in results
        ]
    )


def warning_cut(results: list[PhotoResult], rate: float = WARNING_RATE) -> float | None:
    """The concentration under which ``rate`` of the correctly classified photos fall."""
    values = sorted(r.concentration for r in results if r.top == r.label and r.concentration is not None)
    if not values:
        return None
    return float(np.quantile(values, rate))


def summarise(val: list[PhotoResult], test: list[PhotoResult], threshold: float, mel: int) -> dict[str, Any]:
    is_mel = np.array([r.label == mel for r in test])
    p = np.array([r.p_mel for r in test])
    cut = high_cut(val, mel)
    flag_sens, flag_spec = _rates(p >= threshold, is_mel)
    rule_sens, rule_spec = _rates(borderline_or_above(test, threshold), is_mel)
    high_sens, high_spec = _rates(p >= cut, is_mel)
    borderline = float(
        np.mean([r.low is not None and r.high is not None and r.low < threshold <= r.high for r in test])
    )
    points = [
        {
            "name": "flagged",
            "threshold": threshold,
            "chosen_on": "validation (the manifest's melanoma threshold)",
            "sensitivity": flag_sens,
            "specificity": flag_spec,
            "rule_with_borderline": {"sensitivity": rule_sens, "specificity": rule_spec},
        },
        {
            "name": "high",
            "threshold": cut,
            "chosen_on": f"validation: specificity {HIGH_SPECIFICITY:.0%}",
            "sensitivity": high_sens,
            "specificity": high_spec,
        },
    ]
    wcut = warning_cut(val)
    correct = [r for r in test if r.top == r.label and r.concentration is not None]
    wrong = [r for r in test if r.top != r.label and r.concentration is not None]

    def fires(items: list[PhotoResult]) -> float | None:
        if wcut is None or not items:
            return None
        return float(np.mean([r.concentration is not None and r.concentration < wcut for r in items]))

    val_correct = [r for r in val if r.top == r.label and r.concentration is not None]
    return {
        "melanoma_operating_points": points,
        "borderline_share_of_test_photos": borderline,
        "explanation": {
            "measure": "share of the heatmap inside the outline / share of the photo the outline covers",
            "warning_below_concentration": wcut,
            "chosen_on": f"validation: the warning fires on {WARNING_RATE:.0%} of correctly classified photos",
            "validation_rate_correct": fires(val_correct),
            "test_rate_correct": fires(correct),
            "test_rate_wrong": fires(wrong),
            "test_photos_with_outline": len(correct) + len(wrong),
            "median_concentration_test_correct": float(np.median([r.concentration for r in correct]))
            if correct
            else None,
        },
        "images": {"val": len(val), "test": len(test)},
    }


def main(argv: list[str] | None = None) -> int:
    from ml.engine.data import IMAGES_DIR, Split, read_metadata
    from ml.engine.inference.ensemble import analyser_from_manifest
    from ml.engine.inference.ensemble_manifest import load_manifest
    from ml.engine.segmentation.model import Segmenter

    parser = argparse.ArgumentParser(
        prog="python -m ml.engine.evaluation.deployed_points", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--model", required=True, type=Path, help="the analysis's manifest (a model or an ensemble)")
    parser.add_argument("--segmenter", required=True, type=Path, help="the segmentation manifest the app outlines with")
    parser.add_argument("--data", required=True, type=Path, help="HAM10000 folder (images/, HAM10000_metadata.csv)")
    parser.add_argument("--out", required=True, type=Path, help="report JSON")
    parser.add_argument("--limit", type=int, default=None, help="at most this many photos per split (smoke runs)")
    parser.add_argument("--write-manifest", action="store_true", help="store the points in the model's manifest")
    args = parser.parse_args(argv)

    manifest = load_manifest(args.model)
    if manifest.melanoma_threshold is None or manifest.split_file is None:
        parser.error(f"{args.model} has no melanoma threshold or split file")
    split = Split.load(manifest.folder / manifest.split_file)
    records = {r.image_id: r.label for r in read_metadata(args.data / "HAM10000_metadata.csv")}
    analyser = analyser_from_manifest(args.model)
    segmenter = Segmenter.from_manifest(args.segmenter)
    mel = list(manifest.classes).index("mel")
    results = {}
    for name in ("val", "test"):
        ids = split.ids(name)[: args.limit] if args.limit else split.ids(name)
        print(f"{name}: {len(ids)} photos", flush=True)
        results[name] = analyse_split(analyser, segmenter, args.data / IMAGES_DIR, ids, records)
    report = summarise(results["val"], results["test"], float(manifest.melanoma_threshold), mel)
    report["model"] = manifest.name
    report["segmenter"] = args.segmenter.stem
    report["command"] = " ".join(
        [Path(sys.executable).name, "-m", "ml.engine.evaluation.deployed_points", *(argv or sys.argv[1:])]
    )
    report["photos"] = {name: [r.__dict__ for r in items] for name, items in results.items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "photos"}, indent=1))
    if args.write_manifest:
        data = json.loads(args.model.read_text())
        test = data.setdefault("metrics", {}).setdefault("test", {})
        numbers = test.get("metrics", test)
        numbers["melanoma_operating_points"] = report["melanoma_operating_points"]
        numbers["melanoma_operating_points_command"] = report["command"]
        data["metrics"]["explanation"] = {**report["explanation"], "command": report["command"]}
        args.model.write_text(json.dumps(data, indent=2) + "\n")
        print(f"wrote the points into {args.model}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["PhotoResult", "analyse_split", "borderline_or_above", "high_cut", "summarise", "warning_cut"]
