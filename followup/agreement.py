"""Agreement of the model's top class with the confirmed diagnoses of a clinic's lesions.

A confirmed result (``lesions.histopathology``) counts as its model class (``Lesion.diagnosis``),
or as "other" for a result the analysis has no class for. Beside agreement: the melanoma flag's
sensitivity on the clinic's own confirmed melanomas (in situ and invasive), each melanoma the flag
missed, and a warning when there are too few melanomas for the figure to mean much.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from followup.timeline import VisitAnalysis
from lesions import histopathology as histo
from ml.engine.labels import CLASS_NAMES, HAM10000_CLASSES, MELANOMA

# Fewer confirmed melanomas than this and the sensitivity's 95% interval is wider than ±20 points.
SMALL_N_MELANOMAS = 20


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
        diagnosis: str = self.lesion.diagnosis
        return diagnosis

    @property
    def predicted(self) -> str:
        return self.analysis.top_class if self.analysis else ""

    @property
    def agreed(self) -> bool:
        return bool(self.predicted) and self.predicted == self.diagnosis

    @property
    def is_melanoma(self) -> bool:
        return self.diagnosis == MELANOMA

    @property
    def flag_raised(self) -> bool | None:
        """Whether the analysis raised the melanoma flag (None: it has no flag, e.g. no threshold)."""
        return self.analysis.melanoma_flag if self.analysis else None

    @property
    def missed_melanoma(self) -> bool:
        """A confirmed melanoma whose analysis did not raise the melanoma flag."""
        return self.is_melanoma and self.flag_raised is False

    @property
    def result(self) -> str:
        """The confirmed result in words (the term, else the class)."""
        display = getattr(self.lesion, "result_display", "")
        return str(display) if display else CLASS_NAMES.get(self.diagnosis, self.diagnosis.capitalize())


@dataclass(frozen=True)
class TermAgreement:
    """One result of the vocabulary: the class it counts as, and how often the model's top class was it."""

    code: str
    label: str
    model_class: str
    n: int
    agreed: int

    @property
    def percent(self) -> float | None:
        return round(100 * self.agreed / self.n, 1) if self.n else None


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """The Wilson score 95% interval of a proportion (by hand: one formula, no need to import scipy)."""
    if n == 0:
        return None
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class MelanomaSensitivity:
    """The melanoma flag on the confirmed melanomas: how many it raised, which it missed."""

    flagged: int
    assessed: int  # melanomas whose analysis has a flag (raised or not)
    without_flag: int  # melanomas analysed by a model without a flag threshold
    missed: list[AgreementCase]

    @property
    def percent(self) -> float | None:
        return round(100 * self.flagged / self.assessed, 1) if self.assessed else None

    @property
    def interval_percent(self) -> tuple[float, float] | None:
        interval = wilson_interval(self.flagged, self.assessed)
        return None if interval is None else (round(100 * interval[0], 1), round(100 * interval[1], 1))

    @property
    def small_n(self) -> bool:
        return self.assessed < SMALL_N_MELANOMAS


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
    per_term: list[TermAgreement]
    melanoma: MelanomaSensitivity
    columns: tuple[str, ...] = HAM10000_CLASSES

    @property
    def column_names(self) -> list[tuple[str, str]]:
        return [(code, CLASS_NAMES[code]) for code in self.columns]

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
        name = CLASS_NAMES.get(code, code.capitalize())
        per_class.append(ClassAgreement(code=code, name=name, n=len(of_class), agreed=sum(c.agreed for c in of_class)))
        counts = [sum(c.predicted == column for c in of_class) for column in HAM10000_CLASSES]
        confusion.append(ConfusionRow(code=code, name=name, counts=counts, total=len(of_class)))
    return AgreementSummary(
        cases=cases,
        unanalysed=unanalysed,
        per_class=per_class,
        confusion=confusion,
        per_term=_per_term(cases),
        melanoma=_melanoma_sensitivity(cases),
    )


def _per_term(cases: Sequence[AgreementCase]) -> list[TermAgreement]:
    rows = []
    for term in histo.TERMS:
        of_term = [c for c in cases if getattr(c.lesion, "histopathology", "") == term.code]
        if of_term:
            agreed = sum(c.agreed for c in of_term)
            rows.append(TermAgreement(term.code, term.label, term.model_class, len(of_term), agreed))
    return rows


def _melanoma_sensitivity(cases: Sequence[AgreementCase]) -> MelanomaSensitivity:
    melanomas = [c for c in cases if c.is_melanoma]
    assessed = [c for c in melanomas if c.flag_raised is not None]
    return MelanomaSensitivity(
        flagged=sum(bool(c.flag_raised) for c in assessed),
        assessed=len(assessed),
        without_flag=len(melanomas) - len(assessed),
        missed=[c for c in assessed if c.missed_melanoma],
    )
