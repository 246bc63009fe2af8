"""The melanoma score as a clinician reads it: P(mel) on its own scale, in bands with measured operating points.

The bands' cut points are the model's measured operating points (its manifest): below the flag
threshold, flagged (at or above the threshold chosen on validation for high sensitivity), and
high (at or above a cut chosen on validation for high specificity), each with the sensitivity
and specificity measured at that cut on the held-out test split. The uncertainty is the range of
the readings behind the score (every member of the ensemble on every view of the photo): a photo
whose range straddles the flag threshold is **borderline**, whichever side its mean falls on, so
two near-identical photos at 4.6% and 5.3% read the same, and a borderline photo raises the flag
(the sensitivity-first choice: the flag exists to send lesions for a closer look).

Pure functions over a prediction and its model version's metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

BELOW = "below"
BORDERLINE = "borderline"
FLAGGED = "flagged"
HIGH = "high"
RAISES_FLAG = (BORDERLINE, FLAGGED, HIGH)

STATE_TEXT = {
    BELOW: "Below the melanoma flag threshold",
    BORDERLINE: "Borderline for melanoma",
    FLAGGED: "Suspicious for melanoma",
    HIGH: "Highly suspicious for melanoma",
}


@dataclass(frozen=True)
class Band:
    """A stretch of the P(mel) scale, from its cut point up, with the figures measured at that cut."""

    name: str
    low: float
    high: float
    sensitivity: float | None = None  # of melanomas at or above ``low`` (test split)
    specificity: float | None = None  # of the others below ``low``

    @property
    def percent_range(self) -> str:
        return f"{100 * self.low:.1f}–{100 * self.high:.1f}%"


@dataclass(frozen=True)
class MelanomaReading:
    probability: float
    low: float | None  # the range of the readings (None: a single reading)
    high: float | None
    threshold: float
    state: str
    bands: tuple[Band, ...]

    @property
    def raises_flag(self) -> bool:
        return self.state in RAISES_FLAG

    @property
    def title(self) -> str:
        return STATE_TEXT[self.state]

    @property
    def percent(self) -> str:
        """P(mel) with one decimal below 10% (so "5.2%" never reads as "5%" beside a 5.2% threshold)."""
        value = 100 * self.probability
        return f"{value:.1f}%" if value < 10 else f"{value:.0f}%"

    @property
    def range_text(self) -> str:
        if self.low is None or self.high is None:
            return ""
        return f"{100 * self.low:.1f}–{100 * self.high:.1f}%"

    @property
    def threshold_percent(self) -> str:
        return f"{100 * self.threshold:.1f}%"

    @property
    def band(self) -> Band | None:
        for band in self.bands:
            if band.low <= self.probability < band.high or (band.high >= 1.0 and self.probability >= band.low):
                return band
        return None

    def explanation(self) -> str:
        """One sentence a clinician can act on."""
        spread = f" (readings {self.range_text})" if self.range_text else ""
        base = f"P(mel) {self.percent}{spread}; the flag threshold is {self.threshold_percent}"
        flag_band = next((b for b in self.bands if b.name == FLAGGED), None)
        measured = ""
        if flag_band is not None and flag_band.sensitivity is not None and flag_band.specificity is not None:
            measured = (
                f" (at it the model found {100 * flag_band.sensitivity:.0f}% of test melanomas, "
                f"specificity {100 * flag_band.specificity:.0f}%)"
            )
        if self.state == BORDERLINE:
            return f"{base}{measured}: the readings lie on both sides of it, so this photo is borderline."
        if self.state == BELOW:
            return f"{base}{measured}."
        return (
            f"{base}{measured}: this is a triage flag for a closer look (dermoscopy, excision or biopsy), "
            "not a diagnosis, and it can stand beside a benign top class."
        )


def bands_of(metrics: dict[str, Any] | None, threshold: float) -> tuple[Band, ...]:
    """The bands from a model version's metrics (``test.melanoma_operating_points``), else from the threshold alone."""
    test = (metrics or {}).get("test") if isinstance(metrics, dict) else None
    numbers = test.get("metrics", test) if isinstance(test, dict) else {}
    points = numbers.get("melanoma_operating_points") if isinstance(numbers, dict) else None
    flag = numbers.get("melanoma_flag") if isinstance(numbers, dict) else None
    cuts: list[tuple[str, float, float | None, float | None]] = []
    if isinstance(points, list):
        for point in points:
            if isinstance(point, dict) and point.get("name") in (FLAGGED, HIGH) and point.get("threshold") is not None:
                cuts.append(
                    (point["name"], float(point["threshold"]), point.get("sensitivity"), point.get("specificity"))
                )
    if not any(name == FLAGGED for name, *_ in cuts):
        sensitivity = flag.get("sensitivity") if isinstance(flag, dict) else None
        specificity = flag.get("specificity") if isinstance(flag, dict) else None
        cuts.append((FLAGGED, threshold, sensitivity, specificity))
    cuts.sort(key=lambda c: c[1])
    bands = [Band(BELOW, 0.0, cuts[0][1])]
    for index, (name, low, sensitivity, specificity) in enumerate(cuts):
        high = cuts[index + 1][1] if index + 1 < len(cuts) else 1.0
        bands.append(Band(name, low, high, sensitivity, specificity))
    return tuple(bands)


def melanoma_reading(prediction: Any) -> MelanomaReading | None:
    """How to read a finished prediction's melanoma score (None without a threshold or a P(mel))."""
    threshold = getattr(prediction, "melanoma_threshold", None)
    probabilities = getattr(prediction, "probabilities", None) or {}
    if threshold is None or "mel" not in probabilities:
        return None
    p = float(probabilities["mel"])
    spread = getattr(prediction, "melanoma_range", None) or None
    low, high = (float(spread[0]), float(spread[1])) if spread else (None, None)
    bands = bands_of(getattr(prediction.model_version, "metrics", None), float(threshold))
    high_band = next((b for b in bands if b.name == HIGH), None)
    if low is not None and high is not None and low < threshold <= high:
        state = BORDERLINE
    elif p >= threshold:
        state = HIGH if high_band is not None and p >= high_band.low else FLAGGED
    else:
        state = BELOW
    return MelanomaReading(probability=p, low=low, high=high, threshold=float(threshold), state=state, bands=bands)


__all__ = [
    "BELOW",
    "BORDERLINE",
    "FLAGGED",
    "HIGH",
    "RAISES_FLAG",
    "Band",
    "MelanomaReading",
    "bands_of",
    "melanoma_reading",
]
