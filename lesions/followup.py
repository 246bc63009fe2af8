"""Follow-up of lesions across visits: timelines, change flags, comparisons, trends, agreement.

Pure functions over rows the views already loaded through the scoped selectors (photos with
their predictions prefetched, visit dates): nothing here queries the database, so the rules can
be read in one place and tested at their boundaries.

Which prediction speaks for a photo: the default model's finished one, else any finished one
(default first, then by model name). Pending, running and failed predictions are ignored, as if
the photo had not been analysed.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from django.conf import settings

from ml.engine.architectures import CLASS_NAMES, HAM10000_CLASSES, MALIGNANT_CLASSES

# Probabilities are stored rounded to 6 digits: a rise equal to the threshold up to float noise
# (0.3 - 0.2 = 0.09999999999999998) is "equal", not "more than".
_RISE_TOLERANCE = 1e-9

SHORT_CLASS_NAMES: dict[str, str] = {
    "akiec": "Actinic keratosis / Bowen's",
    "bcc": "Basal cell carcinoma",
    "bkl": "Benign keratosis",
    "df": "Dermatofibroma",
    "mel": "Melanoma",
    "nv": "Melanocytic naevus",
    "vasc": "Vascular lesion",
}


# --- which prediction speaks for a photo and a visit ------------------------------------------


def _is_usable(prediction: Any) -> bool:
    return prediction.status == "done" and bool(prediction.top_class) and bool(prediction.probabilities)


def usable_prediction(predictions: Iterable[Any]) -> Any | None:
    """The default model's finished prediction, else any finished one, else None."""
    done = [p for p in predictions if _is_usable(p)]
    done.sort(key=lambda p: (not p.model_version.is_default, p.model_version.name))
    return done[0] if done else None


@dataclass(frozen=True)
class VisitAnalysis:
    """One visit of one lesion: its photos, and the photo and prediction that speak for it."""

    visit: Any
    images: tuple[Any, ...]
    image: Any
    prediction: Any | None

    @property
    def date(self) -> dt.date:
        return self.visit.date

    @property
    def is_analysed(self) -> bool:
        return self.prediction is not None

    @property
    def is_default_model(self) -> bool:
        return self.prediction is not None and bool(self.prediction.model_version.is_default)

    @property
    def top_class(self) -> str:
        return self.prediction.top_class if self.prediction else ""

    @property
    def top_class_name(self) -> str:
        return CLASS_NAMES.get(self.top_class, self.top_class)

    @property
    def confidence(self) -> float | None:
        return self.prediction.confidence if self.prediction else None

    @property
    def probabilities(self) -> dict[str, float]:
        if not self.prediction:
            return {}
        return {code: float(self.prediction.probabilities.get(code, 0.0)) for code in HAM10000_CLASSES}

    @property
    def malignant_probability(self) -> float | None:
        if not self.prediction:
            return None
        return malignant_sum(self.probabilities)


def malignant_sum(probabilities: dict[str, float]) -> float:
    return sum(float(probabilities.get(code, 0.0)) for code in MALIGNANT_CLASSES)


def visit_analysis(visit: Any, images: Sequence[Any]) -> VisitAnalysis:
    """Pick the photo of a visit whose prediction speaks for it: default model first, then any."""
    candidates = [(image, usable_prediction(image.predictions.all())) for image in images]
    analysed = [(image, p) for image, p in candidates if p is not None]
    analysed.sort(key=lambda pair: not pair[1].model_version.is_default)  # stable: photo order kept
    image, prediction = analysed[0] if analysed else (images[0], None)
    return VisitAnalysis(visit=visit, images=tuple(images), image=image, prediction=prediction)


def lesion_timeline(images: Iterable[Any]) -> list[VisitAnalysis]:
    """A lesion's photos grouped by visit, oldest visit first (photos with predictions prefetched)."""
    ordered = sorted(images, key=lambda i: (i.visit.date, i.visit.created_at, i.visit_id, i.created_at))
    return [
        visit_analysis(group[0].visit, group)
        for _, g in groupby(ordered, key=lambda i: i.visit_id)
        if (group := list(g))
    ]


# --- change flags -------------------------------------------------------------------------------


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
    """What changed for a lesion: the one place that decides its follow-up flags.

    - top class changed between the two latest analysed visits;
    - malignant probability (mel + bcc + akiec) rose by more than ``threshold`` (default
      ``settings.FOLLOWUP_MALIGNANT_RISE_THRESHOLD``) between those visits;
    - new lesion: first photographed at the patient's latest visit while the patient had
      earlier visits.

    ``timeline`` is the lesion's ``lesion_timeline`` (oldest first); visits without a finished
    prediction take no part in the comparisons.
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
                    f"{since.capitalize()}: {SHORT_CLASS_NAMES.get(previous.top_class, previous.top_class)}"
                    f" → {SHORT_CLASS_NAMES.get(latest.top_class, latest.top_class)}.",
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


# --- comparison of two visits and the trend across visits --------------------------------------


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
            name=SHORT_CLASS_NAMES[code],
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
                "label": f"{code} – {SHORT_CLASS_NAMES[code]}",
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


# --- agreement of the model with confirmed diagnoses -------------------------------------------


def analysis_for_diagnosis(timeline: Sequence[VisitAnalysis], diagnosis_date: dt.date | None) -> VisitAnalysis | None:
    """The default model's latest analysis at or before the diagnosis date, else its latest.

    Falls back to other models' analyses only when the default model never analysed the lesion.
    """
    analysed = [entry for entry in timeline if entry.is_analysed]
    pool = [entry for entry in analysed if entry.is_default_model] or analysed
    if not pool:
        return None
    if diagnosis_date is not None:
        before = [entry for entry in pool if entry.date <= diagnosis_date]
        if before:
            return before[-1]
    return pool[-1]


@dataclass(frozen=True)
class AgreementCase:
    lesion: Any
    analysis: VisitAnalysis | None

    @property
    def diagnosis(self) -> str:
        return self.lesion.diagnosis

    @property
    def predicted(self) -> str:
        return self.analysis.top_class if self.analysis else ""

    @property
    def agreed(self) -> bool:
        return bool(self.predicted) and self.predicted == self.diagnosis


@dataclass(frozen=True)
class ClassAgreement:
    code: str
    name: str
    n: int
    agreed: int

    @property
    def percent(self) -> float | None:
        return round(100 * self.agreed / self.n, 1) if self.n else None


@dataclass(frozen=True)
class ConfusionRow:
    code: str
    name: str
    counts: list[int]
    total: int

    @property
    def cells(self) -> list[tuple[str, int, bool]]:
        """(model class, count, on the diagonal) per column."""
        return [
            (column, count, column == self.code) for column, count in zip(HAM10000_CLASSES, self.counts, strict=True)
        ]


@dataclass(frozen=True)
class AgreementSummary:
    cases: list[AgreementCase]
    unanalysed: list[AgreementCase]
    per_class: list[ClassAgreement]
    confusion: list[ConfusionRow]
    columns: tuple[str, ...] = HAM10000_CLASSES

    @property
    def column_names(self) -> list[tuple[str, str]]:
        return [(code, SHORT_CLASS_NAMES[code]) for code in self.columns]

    @property
    def n(self) -> int:
        return len(self.cases)

    @property
    def agreed(self) -> int:
        return sum(case.agreed for case in self.cases)

    @property
    def percent(self) -> float | None:
        return round(100 * self.agreed / self.n, 1) if self.n else None


def agreement_summary(lesions_with_timelines: Iterable[tuple[Any, Sequence[VisitAnalysis]]]) -> AgreementSummary:
    """Model top class against the confirmed diagnosis of each lesion: per class and as a confusion table."""
    cases: list[AgreementCase] = []
    unanalysed: list[AgreementCase] = []
    for lesion, timeline in lesions_with_timelines:
        case = AgreementCase(lesion=lesion, analysis=analysis_for_diagnosis(timeline, lesion.diagnosis_date))
        (cases if case.analysis else unanalysed).append(case)
    rows_codes = [*HAM10000_CLASSES, *sorted({c.diagnosis for c in cases} - set(HAM10000_CLASSES))]
    per_class = []
    confusion = []
    for code in rows_codes:
        of_class = [c for c in cases if c.diagnosis == code]
        name = SHORT_CLASS_NAMES.get(code, code.capitalize())
        per_class.append(ClassAgreement(code=code, name=name, n=len(of_class), agreed=sum(c.agreed for c in of_class)))
        counts = [sum(c.predicted == column for c in of_class) for column in HAM10000_CLASSES]
        confusion.append(ConfusionRow(code=code, name=name, counts=counts, total=len(of_class)))
    return AgreementSummary(cases=cases, unanalysed=unanalysed, per_class=per_class, confusion=confusion)


# --- body map -----------------------------------------------------------------------------------

# Points on the outline drawn in templates/snippets/body_map.html, in one figure's coordinates
# (x from the figure's centre line, y from the top of its head; the patient faces the viewer
# in the front view, so the patient's right is on the left). Lesions at one site take the
# anchors in turn, then spread around them.
BODY_MAP_FIGURE_X = {"front": 95, "back": 285}
BODY_MAP_TOP = 12
BODY_SITE_ANCHORS: dict[str, tuple[str, list[tuple[float, float]]]] = {
    "head/neck": ("front", [(0, 24), (0, 50), (-9, 18), (9, 18)]),
    "upper extremity": ("front", [(-47, 110), (47, 110), (-56, 145), (56, 145)]),
    "lower extremity": ("front", [(-18, 215), (18, 215), (-17, 258), (17, 258)]),
    "anterior torso": ("front", [(0, 92), (-14, 118), (14, 118), (0, 142)]),
    "posterior torso": ("back", [(0, 92), (-14, 118), (14, 118), (0, 142)]),
    "lateral torso": ("front", [(-29, 120), (29, 120)]),
    "palms/soles": ("front", [(-58, 170), (58, 170), (-18, 292), (18, 292)]),
    "oral/genital": ("front", [(0, 166)]),
}
_SPREAD = [(0, 0), (9, 7), (-9, 7), (9, -7), (-9, -7), (0, 12), (0, -12), (13, 0), (-13, 0)]


@dataclass(frozen=True)
class BodyMarker:
    number: int
    followup: LesionFollowUp
    view: str  # "front" or "back"
    x: float
    y: float

    @property
    def flagged(self) -> bool:
        return self.followup.flagged


def body_map_markers(followups: Sequence[LesionFollowUp]) -> list[BodyMarker]:
    """One marker per lesion, numbered as listed, placed by its ISIC body site."""
    per_site: dict[str, int] = {}
    markers = []
    for number, followup in enumerate(followups, start=1):
        site = followup.lesion.body_site
        view, anchors = BODY_SITE_ANCHORS.get(site, BODY_SITE_ANCHORS["anterior torso"])
        n = per_site.get(site, 0)
        per_site[site] = n + 1
        ax, ay = anchors[n % len(anchors)]
        ring = n // len(anchors)
        dx, dy = _SPREAD[ring % len(_SPREAD)]
        scale = 1 + ring // len(_SPREAD)
        markers.append(
            BodyMarker(
                number=number,
                followup=followup,
                view=view,
                x=BODY_MAP_FIGURE_X[view] + ax + dx * scale,
                y=BODY_MAP_TOP + ay + dy * scale,
            )
        )
    return markers
