"""Two visits of a lesion side by side, and the trend of its probabilities across visits."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from followup.timeline import VisitAnalysis
from ml.engine.architectures import CLASS_NAMES, HAM10000_CLASSES, MALIGNANT_CLASSES


@dataclass(frozen=True)
class ClassDifference:
    code: str
    name: str
    malignant: bool
    before: float | None
    after: float | None

    @property
    def delta(self) -> float | None:
        if self.before is None or self.after is None:
            return None
        return self.after - self.before

    @property
    def delta_points(self) -> float | None:
        delta = self.delta
        return None if delta is None else round(100 * delta, 1) + 0.0  # + 0.0: no "-0.0"

    @property
    def before_percent(self) -> float | None:
        return None if self.before is None else round(100 * self.before, 1)

    @property
    def after_percent(self) -> float | None:
        return None if self.after is None else round(100 * self.after, 1)


def compare_pair(
    timeline: Sequence[VisitAnalysis], first: str | None = None, second: str | None = None
) -> tuple[VisitAnalysis, VisitAnalysis] | None:
    """The two visits to compare, by visit UUID; by default the first and the latest.

    Raises KeyError for a UUID that is not one of this lesion's visits; None without visits.
    """
    if not timeline:
        return None
    by_uuid = {str(entry.visit.uuid): entry for entry in timeline}
    a = by_uuid[first] if first else timeline[0]
    b = by_uuid[second] if second else timeline[-1]
    return a, b


def class_differences(a: VisitAnalysis, b: VisitAnalysis) -> list[ClassDifference]:
    """Per class (model order), then the malignant sum: the probability at A, at B and B − A."""
    pa, pb = a.probabilities, b.probabilities
    rows = [
        ClassDifference(
            code=code,
            name=CLASS_NAMES[code],
            malignant=code in MALIGNANT_CLASSES,
            before=pa.get(code) if pa else None,
            after=pb.get(code) if pb else None,
        )
        for code in HAM10000_CLASSES
    ]
    rows.append(
        ClassDifference(
            code="malignant",
            name="Malignant (mel + bcc + akiec)",
            malignant=True,
            before=a.malignant_probability,
            after=b.malignant_probability,
        )
    )
    return rows


def trend_data(timeline: Sequence[VisitAnalysis]) -> dict[str, Any]:
    """Chart data (percent per visit, None where a visit has no finished analysis) for json_script."""

    def percent(value: float | None) -> float | None:
        return None if value is None or math.isnan(value) else round(100 * value, 1)

    return {
        "labels": [f"{entry.date:%Y-%m-%d}" for entry in timeline],
        "series": [
            {
                "code": code,
                "label": f"{code} – {CLASS_NAMES[code]}",
                "malignant": code in MALIGNANT_CLASSES,
                "values": [percent(entry.probabilities.get(code)) if entry.is_analysed else None for entry in timeline],
            }
            for code in HAM10000_CLASSES
        ]
        + [
            {
                "code": "malignant",
                "label": "Malignant sum (mel + bcc + akiec)",
                "malignant": True,
                "values": [percent(entry.malignant_probability) for entry in timeline],
            }
        ],
    }
