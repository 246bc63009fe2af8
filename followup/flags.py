"""What changed for a lesion between its analysed visits: top class, malignant rise, new lesion.

These are read from the visit timeline (``followup.timeline``). The malignant rise is one of the
flags ``followup.flags_sync`` stores with a lifecycle (with melanoma, growth and new colour, which
need the aligned photos); a changed top class and a new lesion are notes shown beside them.
The pages show a lesion's stored open flags (``LesionFollowUp.flags``) and these notes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from followup.timeline import VisitAnalysis, lesion_timeline
from ml.engine.labels import CLASS_NAMES

# Probabilities are stored rounded to 6 digits: a rise equal to the threshold up to float noise
# (0.3 - 0.2 = 0.09999999999999998) is "equal", not "more than".
_RISE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class ChangeFlag:
    kind: str  # TOP_CLASS_CHANGED, MALIGNANT_ROSE or NEW_LESION
    title: str
    detail: str


TOP_CLASS_CHANGED = "top_class_changed"
MALIGNANT_ROSE = "malignant_rose"
NEW_LESION = "new_lesion"


def lesion_change_flags(
    *,
    timeline: Sequence[VisitAnalysis],
    patient_visit_dates: Iterable[dt.date],
    threshold: float | None = None,
) -> list[ChangeFlag]:
    """What changed between the lesion's analysed visits (see the module docstring).

    - top class changed between the two latest analysed visits;
    - malignant probability (mel + bcc + akiec) rose by more than ``threshold`` (default
      ``settings.FOLLOWUP_MALIGNANT_RISE_THRESHOLD``) between those visits;
    - new lesion: first photographed at the patient's latest visit while the patient had
      earlier visits;

    ``timeline`` is the lesion's ``lesion_timeline`` (oldest first); visits without a finished
    prediction take no part in the comparisons of probabilities.
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


@dataclass(frozen=True)
class LesionFollowUp:
    """A lesion with its timeline, its open flags (stored, with a lifecycle) and notes, as the pages show it."""

    lesion: Any
    timeline: list[VisitAnalysis]
    flags: list[Any] = field(default_factory=list)  # the lesion's open ``LesionFlag`` rows
    notes: list[ChangeFlag] = field(default_factory=list)  # changed top class, new lesion

    @property
    def flagged(self) -> bool:
        """Open flags, or a lesion new at the patient's latest visit (it wants a look too)."""
        return bool(self.flags) or any(note.kind == NEW_LESION for note in self.notes)

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
        return "; ".join(flag.title for flag in self.shown)

    @property
    def shown(self) -> list[Any]:
        """Open flags, then the notes that are not flags (a changed top class, a new lesion)."""
        return [*self.flags, *(note for note in self.notes if note.kind != MALIGNANT_ROSE)]


def lesion_followup(
    lesion: Any,
    images: Iterable[Any],
    *,
    patient_visit_dates: Iterable[dt.date],
    threshold: float | None = None,
    open_flags: Iterable[Any] = (),
) -> LesionFollowUp:
    timeline = lesion_timeline(images)
    notes = lesion_change_flags(timeline=timeline, patient_visit_dates=patient_visit_dates, threshold=threshold)
    return LesionFollowUp(lesion=lesion, timeline=timeline, flags=list(open_flags), notes=notes)


def patient_followups(
    lesions: Iterable[Any],
    images: Iterable[Any],
    *,
    patient_visit_dates: Iterable[dt.date],
    threshold: float | None = None,
    open_flags: dict[int, list[Any]] | None = None,
) -> list[LesionFollowUp]:
    """Every lesion of a patient, flagged ones first, then by latest malignant probability, then label."""
    by_lesion: dict[int, list[Any]] = {}
    for image in images:
        by_lesion.setdefault(image.lesion_id, []).append(image)
    dates = list(patient_visit_dates)
    followups = [
        lesion_followup(
            lesion,
            by_lesion.get(lesion.pk, []),
            patient_visit_dates=dates,
            threshold=threshold,
            open_flags=(open_flags or {}).get(lesion.pk, []),
        )
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
