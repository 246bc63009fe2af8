"""Agreement of the model's top class with the confirmed diagnoses of a clinic's lesions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from followup.timeline import VisitAnalysis
from ml.engine.labels import CLASS_NAMES, HAM10000_CLASSES


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
    return AgreementSummary(cases=cases, unanalysed=unanalysed, per_class=per_class, confusion=confusion)
