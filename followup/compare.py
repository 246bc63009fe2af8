"""Two visits of a lesion side by side, how the lesion itself changed, and the trend across visits."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from followup.timeline import VisitAnalysis
from ml.engine.labels import CLASS_NAMES, HAM10000_CLASSES, MALIGNANT_CLASSES
from ml.models import COLOUR_NAMES, Measured


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


@dataclass(frozen=True)
class LesionChange:
    """How the outlined lesion changed from visit A to visit B: size, diameter, asymmetry, colours.

    Sizes compare in mm when both photos have a pixel size. Without one they compare relative to
    the photo, which holds only for photos taken the same way: so only between photos of one
    image type (two dermoscopic photos, say); otherwise ``sizes_comparable`` is False and the
    size changes are None. Asymmetry and colours do not depend on the scale.
    """

    before: Measured
    after: Measured
    in_mm: bool
    sizes_comparable: bool

    @property
    def area_unit(self) -> str:
        return "mm²" if self.in_mm else "% of the photo"

    @property
    def diameter_unit(self) -> str:
        return "mm" if self.in_mm else "% of the photo's long side"

    def _area(self, measured: Measured) -> float | None:
        if not self.sizes_comparable:
            return None
        return measured.area_mm2 if self.in_mm else 100 * measured.area_fraction

    def _diameter(self, measured: Measured) -> float | None:
        if not self.sizes_comparable:
            return None
        return measured.diameter_mm if self.in_mm else 100 * measured.diameter_fraction

    @property
    def area_before(self) -> float | None:
        return self._area(self.before)

    @property
    def area_after(self) -> float | None:
        return self._area(self.after)

    @property
    def diameter_before(self) -> float | None:
        return self._diameter(self.before)

    @property
    def diameter_after(self) -> float | None:
        return self._diameter(self.after)

    @property
    def area_change(self) -> float | None:
        """Relative change of the area, B / A − 1 (0.5 = grew by 50%); None if sizes do not compare."""
        before, after = self.area_before, self.area_after
        if before is None or after is None or before <= 0:
            return None
        return after / before - 1

    @property
    def area_change_percent(self) -> float | None:
        change = self.area_change
        return None if change is None else round(100 * change, 1) + 0.0

    @property
    def diameter_change(self) -> float | None:
        """B − A in mm with a pixel size, else the relative change in % (None if sizes do not compare)."""
        before, after = self.diameter_before, self.diameter_after
        if before is None or after is None:
            return None
        if self.in_mm:
            return round(after - before, 2) + 0.0
        return None if before <= 0 else round(100 * (after / before - 1), 1) + 0.0

    @property
    def diameter_change_unit(self) -> str:
        return "mm" if self.in_mm else "%"

    @property
    def asymmetry_change(self) -> float:
        """B − A of the larger axis asymmetry (0 symmetric, 1 no overlap with the mirror image)."""
        return round(self.after.asymmetry - self.before.asymmetry, 3) + 0.0

    @property
    def compactness_change(self) -> float:
        return round(self.after.compactness - self.before.compactness, 3) + 0.0

    def new_colours(self, min_share: float = 0.0) -> list[str]:
        """ABCD colours present at B, not at A, covering at least ``min_share`` of the lesion at B (codes)."""
        return [
            code
            for code in self.after.colours
            if code not in self.before.colours and self.after.colour_shares.get(code, 1.0) >= min_share
        ]

    @property
    def new_colour_names(self) -> list[str]:
        return [COLOUR_NAMES.get(code, code) for code in self.new_colours()]

    @property
    def lost_colour_names(self) -> list[str]:
        return [COLOUR_NAMES.get(code, code) for code in self.before.colours if code not in self.after.colours]


def lesion_change(a: VisitAnalysis, b: VisitAnalysis) -> LesionChange | None:
    """How the lesion changed from A to B (None unless both visits' photos were outlined)."""
    before, after = a.measured, b.measured
    if before is None or after is None:
        return None
    in_mm = not before.sizes_are_relative and not after.sizes_are_relative
    same_kind = a.image.image_type == b.image.image_type
    return LesionChange(before=before, after=after, in_mm=in_mm, sizes_comparable=in_mm or same_kind)


def trend_data(timeline: Sequence[VisitAnalysis]) -> dict[str, Any]:
    """Chart data (percent per visit, None where a visit has no finished analysis) for json_script."""

    def percent(value: float | None) -> float | None:
        return None if value is None or math.isnan(value) else round(100 * value, 1)

    first = timeline[0].date if timeline else None
    return {
        "labels": [f"{entry.date:%Y-%m-%d}" for entry in timeline],
        # Days since the first visit: the chart's x-axis is real time between visits.
        "days": [(entry.date - first).days for entry in timeline] if first else [],
        "start": f"{first:%Y-%m-%d}" if first else None,
        "melanoma": melanoma_series(timeline),
        "size": size_series(timeline),
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


def melanoma_series(timeline: Sequence[VisitAnalysis]) -> dict[str, Any] | None:
    """P(mel) per visit in %, with the middle half of its readings and the flag threshold, for its own chart."""
    analysed = [entry.prediction for entry in timeline if entry.prediction is not None]
    if not analysed:
        return None
    thresholds = [p.melanoma_threshold for p in analysed if p.melanoma_threshold is not None]

    def pct(value: Any) -> float | None:
        return None if value is None else round(100 * float(value), 2)

    def spread(entry: VisitAnalysis, side: int) -> float | None:
        values = getattr(entry.prediction, "melanoma_range", None) if entry.prediction is not None else None
        return pct(values[side]) if values else None

    return {
        "values": [pct(entry.probabilities.get("mel")) if entry.is_analysed else None for entry in timeline],
        "low": [spread(entry, 0) for entry in timeline],
        "high": [spread(entry, 1) for entry in timeline],
        "threshold": pct(thresholds[-1]) if thresholds else None,
    }


def size_series(timeline: Sequence[VisitAnalysis]) -> dict[str, Any] | None:
    """The outlined area per visit for the trend chart's second axis: mm² when every outlined photo
    has a pixel size, else % of the photo (None where a visit has no outline; None without any)."""
    measured = [entry.measured for entry in timeline]
    known = [m for m in measured if m is not None]
    if not known:
        return None
    in_mm = all(not m.sizes_are_relative for m in known)

    def area(m: Measured | None) -> float | None:
        if m is None:
            return None
        return round(m.area_mm2, 2) if in_mm and m.area_mm2 is not None else round(100 * m.area_fraction, 2)

    return {
        "code": "area",
        "label": "Lesion area (mm²)" if in_mm else "Lesion area (% of the photo; relative, no pixel size)",
        "unit": "mm²" if in_mm else "% of the photo",
        "values": [area(m) for m in measured],
    }
