"""The evaluation report: measured numbers of one analysis on one set of labelled images, as a table or JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ml.engine.labels import HAM10000_CLASSES


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
        data: dict[str, Any] = json_safe(asdict(self))
        return data

    def format_table(self) -> str:
        """A readable summary: headline numbers, then per-class precision/recall/F1/AUC."""
        m = self.metrics
        mel = m.get("melanoma", {})
        flag = m.get("melanoma_flag")
        lines = [
            f"model {self.model} ({self.architecture}) on {self.images} images"
            f"{' [' + self.image_set + ']' if self.image_set else ''}{' with TTA' if self.tta else ''}",
            f"  accuracy           {m['accuracy']:.4f}",
            f"  balanced accuracy  {m['balanced_accuracy']:.4f}",
            f"  macro F1           {m['macro_f1']:.4f}",
            f"  macro AUC (OvR)    {_fmt(m['auc_macro'])}",
            f"  melanoma sens/spec {_fmt(mel.get('sensitivity'))} / {_fmt(mel.get('specificity'))} (top class)",
            *(
                [
                    f"  melanoma flag      sens {_fmt(flag.get('sensitivity'))} / spec {_fmt(flag.get('specificity'))}"
                    f" at P(mel) >= {_fmt(flag.get('threshold'))}"
                ]
                if flag
                else []
            ),
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


def json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, float):
        return None if value != value else round(value, 6)
    if isinstance(value, np.generic):
        return json_safe(value.item())
    return value


__all__ = ["EvaluationReport", "json_safe"]
