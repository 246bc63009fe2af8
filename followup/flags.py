"""What changed for a lesion since its previous visit: the one place that decides its flags."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from followup.compare import lesion_change
from followup.timeline import VisitAnalysis, lesion_timeline
from ml.engine.labels import CLASS_NAMES
from ml.models import COLOUR_NAMES

# Probabilities are stored rounded to 6 digits: a rise equal to the threshold up to float noise
# (0.3 - 0.2 = 0.09999999999999998) is "equal", not "more than".
_RISE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class ChangeFlag:
    kind: str  # TOP_CLASS_CHANGED, MALIGNANT_ROSE, NEW_LESION, MELANOMA_FLAG, GREW or NEW_COLOUR
    title: str
    detail: str


TOP_CLASS_CHANGED = "top_class_changed"
MALIGNANT_ROSE = "malignant_rose"
NEW_LESION = "new_lesion"
MELANOMA_FLAG = "melanoma_flag"
GREW = "grew"
NEW_COLOUR = "new_colour"


def lesion_change_flags(
    *,
    timeline: Sequence[VisitAnalysis],
    patient_visit_dates: Iterable[dt.date],
    threshold: float | None = None,
) -> list[ChangeFlag]:
    """What changed for a lesion: the one place that decides its follow-up flags.

    - top class changed between the two latest analysed visits;
    - malignant probability (mel + bcc + akiec) rose by more than ``threshold`` (default
      ``settings.FOLLOWUP_MALIGNANT_RISE_THRESHOLD``) between those visits;
    - new lesion: first photographed at the patient's latest visit while the patient had
      earlier visits;
    - suspicious for melanoma: the latest analysed visit's melanoma flag is raised (P(mel) at
      or above the model's threshold, chosen on validation for high sensitivity);
    - grew: the outlined area grew by more than ``FOLLOWUP_GROWTH_THRESHOLD`` between the two
      latest outlined visits (sizes compared as ``followup.compare.lesion_change`` says);
    - new colour: an ABCD colour at the latest outlined visit, covering at least
      ``FOLLOWUP_NEW_COLOUR_MIN_SHARE`` of the lesion, that the previous outlined visit lacked.

    ``timeline`` is the lesion's ``lesion_timeline`` (oldest first); visits without a finished
    prediction take no part in the comparisons of probabilities, visits without an outline none
    in those of the lesion itself.
    """
    if threshold is None:
        threshold = float(settings.FOLLOWUP_MALIGNANT_RISE_THRESHOLD)
    flags: list[ChangeFlag] = []
    analysed = [entry for entry in timeline if entry.is_analysed]
    if len(analysed) >= 2:
        previous, latest = analysed[-2], analysed[-1]
        since = f"since {previous.date:%Y-%m-%d}"
        if latest.top_class != previous.top_class:
            flags.append(
                ChangeFlag(
                    TOP_CLASS_CHANGED,
                    "Top class changed",
                    f"{since.capitalize()}: {CLASS_NAMES.get(previous.top_class, previous.top_class)}"
                    f" → {CLASS_NAMES.get(latest.top_class, latest.top_class)}.",
                )
            )
        before, after = previous.malignant_probability or 0.0, latest.malignant_probability or 0.0
        rise = after - before
        if rise > threshold + _RISE_TOLERANCE:
            flags.append(
                ChangeFlag(
                    MALIGNANT_ROSE,
                    f"Malignant +{100 * rise:.0f} pts",
                    f"Mel + bcc + akiec {100 * before:.0f}% → {100 * after:.0f}% {since}"
                    f" (flagged above +{100 * threshold:.0f} points).",
                )
            )
    if analysed and analysed[-1].melanoma_flag:
        latest = analysed[-1]
        assert latest.prediction is not None  # a melanoma flag comes from its prediction
        threshold_text = (
            f" ≥ {100 * latest.prediction.melanoma_threshold:.0f}%" if latest.prediction.melanoma_threshold else ""
        )
        flags.append(
            ChangeFlag(
                MELANOMA_FLAG,
                "Suspicious for melanoma",
                f"P(mel) {100 * latest.probabilities.get('mel', 0.0):.0f}%{threshold_text} on {latest.date:%Y-%m-%d}: "
                "consider excision/biopsy or specialist review.",
            )
        )
    flags.extend(_outline_flags(timeline))
    dates = list(patient_visit_dates)
    if timeline and dates:
        latest_visit = max(dates)
        if timeline[0].date == latest_visit and any(d < latest_visit for d in dates):
            flags.append(
                ChangeFlag(
                    NEW_LESION,
                    "New lesion",
                    f"First photographed at the latest visit, {latest_visit:%Y-%m-%d}.",
                )
            )
    return flags


def _outline_flags(timeline: Sequence[VisitAnalysis]) -> list[ChangeFlag]:
    outlined = [entry for entry in timeline if entry.measured is not None]
    if len(outlined) < 2:
        return []
    previous, latest = outlined[-2], outlined[-1]
    change = lesion_change(previous, latest)
    if change is None:
        return []
    since = f"since {previous.date:%Y-%m-%d}"
    flags = []
    growth, limit = change.area_change, float(settings.FOLLOWUP_GROWTH_THRESHOLD)
    if growth is not None and growth > limit + _RISE_TOLERANCE:
        area_before, area_after = change.area_before or 0.0, change.area_after or 0.0
        if change.in_mm:
            sizes = f"{area_before:.1f} → {area_after:.1f} mm²"
        else:
            sizes = f"{area_before:.1f}% → {area_after:.1f}% of the photo (relative: no pixel size)"
        flags.append(
            ChangeFlag(
                GREW,
                f"Grew +{100 * growth:.0f}%",
                f"Outlined area {sizes} {since} (flagged above +{100 * limit:.0f}%).",
            )
        )
    new = change.new_colours(float(settings.FOLLOWUP_NEW_COLOUR_MIN_SHARE))
    if new:
        names = ", ".join(COLOUR_NAMES.get(code, code) for code in new)
        shares = ", ".join(f"{COLOUR_NAMES.get(c, c)} {100 * change.after.colour_shares.get(c, 0.0):.0f}%" for c in new)
        flags.append(
            ChangeFlag(
                NEW_COLOUR,
                f"New colour: {names}",
                f"Not seen {since}; now {shares} of the lesion on {latest.date:%Y-%m-%d}.",
            )
        )
    return flags


@dataclass(frozen=True)
class LesionFollowUp:
    """A lesion with its timeline and flags, as the patient and lesion pages show it."""

    lesion: Any
    timeline: list[VisitAnalysis]
    flags: list[ChangeFlag] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return bool(self.flags)

    @property
    def latest_analysis(self) -> VisitAnalysis | None:
        analysed = [entry for entry in self.timeline if entry.is_analysed]
        return analysed[-1] if analysed else None

    @property
    def latest_measured(self) -> VisitAnalysis | None:
        """The latest visit whose photo was outlined and measured."""
        measured = [entry for entry in self.timeline if entry.measured is not None]
        return measured[-1] if measured else None

    @property
    def latest_malignant_probability(self) -> float | None:
        latest = self.latest_analysis
        return latest.malignant_probability if latest else None

    @property
    def photo_count(self) -> int:
        return sum(len(entry.images) for entry in self.timeline)

    @property
    def flag_summary(self) -> str:
        return "; ".join(flag.title for flag in self.flags)


def lesion_followup(
    lesion: Any, images: Iterable[Any], *, patient_visit_dates: Iterable[dt.date], threshold: float | None = None
) -> LesionFollowUp:
    timeline = lesion_timeline(images)
    flags = lesion_change_flags(timeline=timeline, patient_visit_dates=patient_visit_dates, threshold=threshold)
    return LesionFollowUp(lesion=lesion, timeline=timeline, flags=flags)


def patient_followups(
    lesions: Iterable[Any],
    images: Iterable[Any],
    *,
    patient_visit_dates: Iterable[dt.date],
    threshold: float | None = None,
) -> list[LesionFollowUp]:
    """Every lesion of a patient, flagged ones first, then by latest malignant probability, then label."""
    by_lesion: dict[int, list[Any]] = {}
    for image in images:
        by_lesion.setdefault(image.lesion_id, []).append(image)
    dates = list(patient_visit_dates)
    followups = [
        lesion_followup(lesion, by_lesion.get(lesion.pk, []), patient_visit_dates=dates, threshold=threshold)
        for lesion in lesions
    ]
    followups.sort(
        key=lambda f: (
            not f.flagged,
            -(f.latest_malignant_probability if f.latest_malignant_probability is not None else -1.0),
            f.lesion.label.lower(),
            f.lesion.pk,
        )
    )
    return followups
