"""The clinician's part of the PDF report: the visit's assessment, signature and addenda; a photo's checklists.

The same lines as the printable page (``snippets/report_assessment.html``, ``report_checklist.html``).
"""

from __future__ import annotations

from typing import Protocol

from followup.report import ReportEntry, VisitReport


class ReportPDF(Protocol):
    """What these sections need of ``interop.pdf.ReportPDF`` (which imports this module)."""

    def line_of_text(
        self, text: str, size: float = 10, bold: bool = False, colour: tuple[int, int, int] | None = None
    ) -> None: ...

    def gap(self, mm: float = 2) -> None: ...


MUTED = (90, 90, 90)


def assessment_section(pdf: ReportPDF, report: VisitReport) -> None:
    pdf.line_of_text("Clinical assessment", 12, bold=True)
    assessment = report.assessment
    if assessment is None:
        pdf.line_of_text("No clinical assessment was recorded for this visit (not signed).", 9, colour=MUTED)
        pdf.gap(3)
        return
    pdf.line_of_text(f"Impression: {assessment.impression or '–'}", 10, bold=True)
    pdf.line_of_text(f"Differential: {assessment.differential or '–'}", 10)
    pdf.line_of_text(f"Plan: {assessment.get_plan_display() or '–'}", 10, bold=True)
    if assessment.notes:
        pdf.line_of_text(f"Notes: {assessment.notes}", 10)
    if assessment.is_signed:
        pdf.line_of_text(f"Signed by {assessment.signed_by_name} on {assessment.signed_at:%Y-%m-%d %H:%M}", 10)
    else:
        pdf.line_of_text("Not signed: a draft assessment.", 10, bold=True)
    for addendum in report.addenda:
        pdf.line_of_text(f"Addendum ({addendum.author_name}, {addendum.created_at:%Y-%m-%d %H:%M}): {addendum.text}", 9)
    pdf.gap(3)


def checklist_section(pdf: ReportPDF, entry: ReportEntry) -> None:
    checklist = entry.checklist
    if checklist is None:
        pdf.line_of_text("Dermoscopy checklists: not completed.", 9, colour=MUTED)
        return
    for line in checklist.report_lines():
        pdf.line_of_text(line, 9)
