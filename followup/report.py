"""What a visit report says, assembled once for the printable page and the PDF.

For each photo of the visit: the lesion, the analysis that speaks for the photo, the lesion's
previous visit (the latest earlier one with a photo of it) and how the lesion changed since
then; and the models whose analyses the report shows, with their measured test figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from assessment.models import assessment_of, checklist_of
from followup import compare, timeline
from followup.alignment import references_of
from followup.changes import PhotoChange, photo_change
from followup.compare import ClassDifference
from followup.models import PhotoAlignment
from followup.numerals import fitzpatrick
from followup.timeline import VisitAnalysis
from ml import selectors
from ml.models import default_model_first


@dataclass(frozen=True)
class ReportEntry:
    """One photo of the visit with what the report says about it."""

    lesion: Any
    analysis: VisitAnalysis
    previous: VisitAnalysis | None  # the lesion at its previous visit (None: first seen at this one)
    # The photo against its baseline and previous photo of the same kind, sizes in one frame.
    changes: tuple[PhotoChange, ...] = ()
    baseline: Any | None = None  # the baseline photo (None: this photo is the first of its kind)
    checklist: Any | None = None  # the photo's dermoscopy checklists (None: not completed)

    @property
    def malignant_change(self) -> ClassDifference | None:
        """The malignant sum (mel + bcc + akiec) at the previous visit and now (None unless both analysed)."""
        if self.previous is None or not (self.previous.is_analysed and self.analysis.is_analysed):
            return None
        return compare.class_differences(self.previous, self.analysis)[-1]


@dataclass(frozen=True)
class VisitReport:
    visit: Any
    patient: Any
    entries: list[ReportEntry]
    assessment: Any | None = None  # the clinician's impression, plan and signature (None: not written)
    addenda: tuple[Any, ...] = ()

    @property
    def fitzpatrick(self) -> str:
        """The skin type as the patient page writes it (II), '' when not recorded."""
        return fitzpatrick(self.patient.fitzpatrick_skin_type)

    @property
    def signed(self) -> bool:
        return self.assessment is not None and self.assessment.is_signed

    @property
    def model_versions(self) -> list[Any]:
        """The models whose analyses the report shows, the default first."""
        versions = {e.analysis.prediction.model_version for e in self.entries if e.analysis.prediction is not None}
        return sorted(versions, key=default_model_first)


def _previous_visit(history: list[VisitAnalysis], visit: Any) -> VisitAnalysis | None:
    for index, entry in enumerate(history):
        if entry.visit.pk == visit.pk:
            return history[index - 1] if index > 0 else None
    return None


def visit_report(visit: Any) -> VisitReport:
    """The report of a visit the caller may read (loaded through the access check)."""
    images = list(selectors.visit_images(visit))
    histories: dict[int, list[VisitAnalysis]] = {}
    photos: dict[int, list[Any]] = {}
    entries = []
    for image in images:
        lesion = image.lesion
        if lesion.pk not in histories:
            photos[lesion.pk] = list(selectors.lesion_images(lesion))
            histories[lesion.pk] = timeline.lesion_timeline(photos[lesion.pk])
        refs = references_of(image, photos[lesion.pk])
        alignments = {a.reference_id: a for a in PhotoAlignment.objects.filter(photo=image)}
        changes = [
            photo_change(role, image, reference, alignments.get(reference.pk))
            for role, reference in (("baseline", refs.baseline), ("previous", refs.previous))
            if reference is not None
            and not (role == "previous" and refs.baseline is not None and reference.pk == refs.baseline.pk)
        ]
        entries.append(
            ReportEntry(
                lesion=lesion,
                analysis=timeline.visit_analysis(visit, [image]),
                previous=_previous_visit(histories[lesion.pk], visit),
                changes=tuple(changes),
                baseline=refs.baseline,
                checklist=_saved(checklist_of(image)),
            )
        )
    assessment = _saved(assessment_of(visit))
    addenda = tuple(visit.addenda.select_related("author")) if assessment is not None else ()
    return VisitReport(visit=visit, patient=visit.patient, entries=entries, assessment=assessment, addenda=addenda)


def _saved(row: Any | None) -> Any | None:
    return row if row is not None and row.pk is not None else None
