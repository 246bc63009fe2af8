"""The visit report as a PDF (fpdf2: pure Python, with the DejaVu Sans font shipped in interop/fonts/).

It prints what was typed: fpdf2's page-count alias (``{nb}``) is on only while the footer draws its
own page number, so a name or note holding ``{nb}`` prints as typed; characters DejaVu lacks (CJK)
are drawn in WenQuanYi Micro Hei (also in interop/fonts/, loaded only when a report needs it), and
one that neither font has prints as U+FFFD (�) instead of vanishing.

It says what the printable page says (``followup.report.visit_report`` assembles both): clinic,
patient and visit; each photo's lesion with the photo and heatmap (the outline drawn over both
when there is one), the 7 probabilities, the melanoma flag, the measurements and the change
since the lesion's previous visit; the models with their measured test figures; the disclaimer.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import unicodedata
from pathlib import Path
from typing import Any

from django.db.models.fields.files import FieldFile
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from PIL import Image, ImageDraw, UnidentifiedImageError

from followup.numerals import signed
from followup.report import ReportEntry, VisitReport
from interop.disclaimer import disclaimer_text
from interop.pdf_assessment import assessment_section, checklist_section
from lesions.models import LesionImage
from lesions.services import lesion_image_thumbnail_make
from ml.models import outline_of

FONTS = Path(__file__).resolve().parent / "fonts"
FONT = "DejaVu"
# For what DejaVu lacks: Chinese, Japanese kana, Korean Hangul (face 0 of the collection; 5 MB, parsed
# only by reports that need it).
FALLBACK_FONT = "WenQuanYi"
FALLBACK_FONT_FILE = FONTS / "wqy-microhei.ttc"
NO_GLYPH = "\ufffd"  # drawn where neither font has the character
# Characters drawn as nothing anyway (line breaks, tabs, direction and joiner marks): never replaced.
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
PAGE_COUNT_ALIAS = "{nb}"
IMAGE_WIDTH_MM = 56  # three side by side (baseline, current, heatmap) fill the 180 mm between the margins
IMAGE_GAP_MM = 6
IMAGE_MAX_PIXELS = 700  # enough for print at this width; keeps the file small (photos: their stored thumbnail)
OUTLINE_COLOUR = (0, 220, 255)
MUTED = (90, 90, 90)
FLAG_COLOUR = (170, 20, 20)


def _percent(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{100 * float(value):.{digits}f}%"


def _signed(value: float, digits: int = 1) -> str:
    return signed(value, digits)


class ReportPDF(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.footer_text = footer_text
        self.add_font(FONT, "", str(FONTS / "DejaVuSans.ttf"))
        self.add_font(FONT, "B", str(FONTS / "DejaVuSans-Bold.ttf"))
        self.set_auto_page_break(auto=True, margin=16)
        self.set_margins(15, 15, 15)
        self.set_font(FONT, size=10)
        # fpdf2 replaces its page-count alias in every text it draws while the alias is set: off, so that a
        # name or a note holding "{nb}" prints as typed. The footer sets it for its own page number only.
        self.alias_nb_pages("")
        self._closing = False
        self._fallback_cmap: dict[int, str] | None = None

    def footer(self) -> None:
        self.set_y(-13)
        self.set_font(FONT, size=7)
        self.set_text_color(*MUTED)
        self.cell(0, 4, self.footer_text, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.alias_nb_pages(PAGE_COUNT_ALIAS)
        self.font_again()
        self.cell(0, 4, f"page {self.page_no()}/{PAGE_COUNT_ALIAS}", align="C")
        if not self._closing:  # the last footer is drawn by output(), whose substitution needs the alias set
            self.alias_nb_pages("")
        self.set_text_color(0, 0, 0)

    def font_again(self) -> None:
        """Set the current font again in the page's text state.

        fpdf2 (2.8.9) sets the font of a coloured line inside q/Q when a fallback font draws part of it, and
        then thinks it still set after Q: the next line in that font came out in another font's glyphs
        ("psre tbt" for "page 1/1" after a CJK name and bold text). Called whenever the text colour changes
        and between the footer's two lines.
        """
        family, style, size = self.font_family, self.font_style, self.font_size_pt
        self.set_font(family, "" if "B" in style else "B", size)
        self.set_font(family, style, size)

    def set_text_color(self, *args: Any, **kwargs: Any) -> None:
        super().set_text_color(*args, **kwargs)
        if self.page and self.font_family:  # after a coloured line: its font may be left unset (font_again)
            self.font_again()

    def normalize_text(self, text: str) -> str:
        """fpdf2 passes every text it draws through here: load the fallback font when the text needs it, and
        mark what no font can draw (fpdf2 would leave it out without a trace)."""
        text = super().normalize_text(text)
        font = self.current_font
        if font is None:
            return text
        cmap = getattr(font, "cmap", {})
        missing = {c for c in set(text) if ord(c) not in cmap and unicodedata.category(c) not in INVISIBLE_CATEGORIES}
        if not missing:
            return text
        fallback = self.fallback_cmap()
        for character in missing:
            if ord(character) not in fallback:
                text = text.replace(character, NO_GLYPH)
        return text

    def fallback_cmap(self) -> dict[int, str]:
        """The fallback font's characters, the font added (and made fpdf2's fallback) on first use."""
        if self._fallback_cmap is None:
            self.add_font(FALLBACK_FONT, "", str(FALLBACK_FONT_FILE), collection_font_number=0)
            # One weight only: bold text falls back to it too (exact_match=False).
            self.set_fallback_fonts([FALLBACK_FONT], exact_match=False)
            self._fallback_cmap = self.fonts[FALLBACK_FONT.lower()].cmap  # type: ignore[union-attr]
        return self._fallback_cmap

    def finish(self) -> bytes:
        """The document's bytes, the page count put into every footer."""
        self._closing = True
        return bytes(self.output())

    def line_of_text(
        self, text: str, size: float = 10, bold: bool = False, colour: tuple[int, int, int] | None = None
    ) -> None:
        self.set_font(FONT, "B" if bold else "", size)
        if colour:
            self.set_text_color(*colour)
        self.multi_cell(0, size * 0.5, text, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_text_color(0, 0, 0)
        self.set_font(FONT, "", 10)

    def gap(self, mm: float = 2) -> None:
        self.ln(mm)

    def ensure_room(self, mm: float) -> None:
        if self.get_y() + mm > self.page_break_trigger:
            self.add_page()


def _image_with_outline(field: FieldFile, source_size: tuple[int, int], polygon: list[Any]) -> Image.Image | None:
    """The stored picture, made small, with the lesion outline drawn over it (None if it cannot be read)."""
    if not field:
        return None
    try:
        with field.open("rb") as handle, Image.open(handle) as opened:
            opened.draft("RGB", (IMAGE_MAX_PIXELS, IMAGE_MAX_PIXELS))  # a JPEG decodes at a fraction of its size
            picture = opened.convert("RGB")
    except (OSError, ValueError, UnidentifiedImageError):
        return None
    picture.thumbnail((IMAGE_MAX_PIXELS, IMAGE_MAX_PIXELS))
    if len(polygon) >= 3:
        # The polygon is in pixels of the stored photo; the heatmap may have another size.
        scale_x, scale_y = picture.width / source_size[0], picture.height / source_size[1]
        points = [(float(x) * scale_x, float(y) * scale_y) for x, y in polygon]
        ImageDraw.Draw(picture).line([*points, points[0]], fill=OUTLINE_COLOUR, width=2, joint="curve")
    return picture


def _thumbnail(image: LesionImage) -> FieldFile:
    """The photo's stored thumbnail, made now (once) for a photo stored before thumbnails existed: a report
    never decodes a full-size photo again, whatever its size."""
    if not image.thumbnail:
        with contextlib.suppress(OSError, ValueError, UnidentifiedImageError):  # unreadable: the report says so
            lesion_image_thumbnail_make(image=image)
    thumbnail: FieldFile = image.thumbnail
    return thumbnail


def _images(pdf: ReportPDF, entry: ReportEntry) -> None:
    analysis = entry.analysis
    image = analysis.image
    outline = outline_of(image)
    polygon = list(outline.polygon) if outline is not None and outline.polygon else []
    pictures = []
    baseline = entry.baseline
    if baseline is not None:
        pictures.append(
            (
                _image_with_outline(_thumbnail(baseline), (baseline.width, baseline.height), []),
                f"Baseline · {baseline.visit.date:%Y-%m-%d}",
            )
        )
    current = f"Current · {analysis.visit.date:%Y-%m-%d}" if baseline is not None else "Photo (first of this lesion)"
    pictures.append(
        (
            _image_with_outline(_thumbnail(image), (image.width, image.height), polygon),
            f"{current} · {image.get_image_type_display()}" + (" · outline" if polygon else ""),
        )
    )
    prediction = analysis.prediction
    if prediction is not None and prediction.heatmap:
        caption = f"Heatmap (Grad-CAM, {prediction.top_class})"
        if prediction.cam_in_lesion is not None:
            caption += f" · {_percent(prediction.cam_in_lesion)} on the lesion"
        pictures.append((_image_with_outline(prediction.heatmap, (image.width, image.height), polygon), caption))
    heights = [
        IMAGE_WIDTH_MM * picture.height / picture.width
        for picture, _ in pictures
        if picture is not None and picture.width
    ]
    if not heights:
        pdf.line_of_text("(The photo file could not be read.)", 9, colour=MUTED)
        return
    pdf.ensure_room(max(heights) + 8)
    top, left = pdf.get_y(), pdf.l_margin
    for index, (picture, caption) in enumerate(pictures):
        x = left + index * (IMAGE_WIDTH_MM + IMAGE_GAP_MM)
        if picture is None:
            pdf.set_xy(x, top)
            pdf.set_font(FONT, "", 8)
            pdf.multi_cell(IMAGE_WIDTH_MM, 4, f"{caption}: file missing")
            continue
        height = IMAGE_WIDTH_MM * picture.height / picture.width
        pdf.image(picture, x=x, y=top, w=IMAGE_WIDTH_MM, h=height)
        pdf.set_xy(x, top + height + 0.5)
        pdf.set_font(FONT, "", 7)
        pdf.set_text_color(*MUTED)
        pdf.multi_cell(IMAGE_WIDTH_MM, 3.2, caption)
        pdf.set_text_color(0, 0, 0)
    pdf.set_xy(left, top + max(heights) + 8)


def _prediction(pdf: ReportPDF, entry: ReportEntry) -> None:
    analysis = entry.analysis
    prediction = analysis.prediction
    if prediction is None:
        installed = bool(analysis.image.predictions.all())
        pdf.line_of_text(
            "No finished analysis of this photo" + ("" if installed else " (no model installed)") + ".", 9, colour=MUTED
        )
        return
    pdf.line_of_text(
        f"Model {prediction.model_version.name}: top class {analysis.top_class_name} "
        f"({_percent(analysis.confidence)}); malignant (mel + bcc + akiec) {_percent(analysis.malignant_probability)}."
    )
    if prediction.melanoma_flag:
        pdf.line_of_text(
            f"▲ Suspicious for melanoma: consider excision/biopsy or specialist review. "
            f"P(mel) {_percent(prediction.melanoma_probability, 1)}, flag threshold "
            f"{_percent(prediction.melanoma_threshold, 1)}.",
            bold=True,
            colour=FLAG_COLOUR,
        )
    elif prediction.melanoma_flag is False:
        pdf.line_of_text(
            f"Melanoma flag not raised (P(mel) {_percent(prediction.melanoma_probability, 1)} < "
            f"{_percent(prediction.melanoma_threshold, 1)}).",
            9,
            colour=MUTED,
        )
    if prediction.cam_mostly_outside:
        pdf.line_of_text(
            "Warning: the heatmap is hardly more on the lesion than elsewhere, so the classification deserves little "
            "weight.",
            9,
        )
    pdf.gap(1)
    pdf.set_font(FONT, "", 8.5)
    with pdf.table(
        col_widths=(18, 70, 22), width=110, align="LEFT", line_height=4.2, first_row_as_headings=True
    ) as table:
        table.row(["Class", "", "Probability"])
        for row in prediction.probability_rows():
            table.row([str(row["code"]), str(row["name"]), f"{row['percent']}%" + (" ◀" if row["is_top"] else "")])
    pdf.set_font(FONT, "", 10)
    pdf.gap(1)


def _measurements(pdf: ReportPDF, entry: ReportEntry) -> None:
    outline = entry.analysis.outline
    if outline is None:
        pdf.line_of_text(
            "Not outlined: no segmentation model was installed, so there are no measurements.", 9, colour=MUTED
        )
        return
    measured = outline.measured
    if measured is None:
        pdf.line_of_text(f"Lesion outline: {outline.get_status_display().lower()}.", 9, colour=MUTED)
        return
    if measured.area_mm2 is not None and measured.diameter_mm is not None and measured.width_mm is not None:
        size = (
            f"area {measured.area_mm2:.1f} mm², longest diameter {measured.diameter_mm:.1f} mm "
            f"× {measured.width_mm:.1f} mm across"
        )
    else:
        size = (
            f"area {measured.area_percent:.1f}% of the photo, longest diameter {measured.diameter_percent:.0f}% "
            f"of its long side (relative: no pixel size)"
        )
    colours = ", ".join(measured.colour_names) or "none of the six"
    pdf.line_of_text(
        f"Measurements: {size}; asymmetry {measured.asymmetry_major_axis:.2f} / {measured.asymmetry_minor_axis:.2f} "
        f"(major / minor axis); border compactness {measured.compactness:.2f} (1 = circle); colours: {colours}.",
        9,
    )


def _change(pdf: ReportPDF, entry: ReportEntry) -> None:
    previous = entry.previous
    if previous is None:
        pdf.line_of_text("Since the previous visit: first photographed at this visit.", 9, colour=MUTED)
        return
    parts = []
    difference = entry.malignant_change
    if difference is not None and difference.delta_points is not None:
        parts.append(
            f"malignant {difference.before_percent}% → {difference.after_percent}% "
            f"({_signed(difference.delta_points)} points)"
        )
    summary = "; ".join(parts) if parts else "nothing to compare (not analysed at both visits)"
    pdf.line_of_text(f"Since the previous visit ({previous.date:%Y-%m-%d}): {summary}.", 9)
    for change in entry.changes:
        line = change.summary()
        pdf.line_of_text(line[0].upper() + line[1:] + ".", 9)


def _entry(pdf: ReportPDF, number: int, entry: ReportEntry) -> None:
    """The ``number``-th lesion of the report (its own number, ``Lesion.number``, heads it)."""
    lesion = entry.lesion
    if number > 1:
        pdf.add_page()  # one lesion per page at most, as the printed page does
    pdf.ensure_room(75)  # the heading stays with the pictures below it
    # The lesion's own number, as its marker on the body map and the patient page show it.
    pdf.line_of_text(f"{lesion.number}. {lesion.label}", 12, bold=True)
    site = lesion.location_text + (f" – {lesion.body_site_detail}" if lesion.body_site_detail else "")
    details = f"{site} · {lesion.get_status_display()}"
    if lesion.diagnosis:
        details += f" · confirmed {lesion.result_display}"
    pdf.line_of_text(details, 9, colour=MUTED)
    pdf.gap(1)
    _images(pdf, entry)
    _prediction(pdf, entry)
    checklist_section(pdf, entry)
    _measurements(pdf, entry)
    _change(pdf, entry)
    pdf.gap(4)


def _facts(pdf: ReportPDF, report: VisitReport) -> None:
    patient, visit = report.patient, report.visit
    facts = [("Patient", patient.full_name), ("Record no.", patient.medical_record_number)]
    if patient.date_of_birth:
        age = patient.age_on(visit.date)
        facts.append(
            ("Date of birth", f"{patient.date_of_birth:%Y-%m-%d}" + (f" ({age} y)" if age is not None else ""))
        )
    facts.append(("Sex", patient.get_sex_display()))
    if patient.fitzpatrick_skin_type:
        facts.append(("Fitzpatrick", report.fitzpatrick))
    facts.append(("Visit date", f"{visit.date:%Y-%m-%d}"))
    clinician = visit.clinician
    facts.append(("Clinician", (clinician.get_full_name() or clinician.username) if clinician else "–"))
    pdf.set_font(FONT, "", 9.5)
    with pdf.table(col_widths=(30, 80), width=110, align="LEFT", line_height=5, first_row_as_headings=False) as table:
        for label, value in facts:
            table.row([label, value])
    pdf.set_font(FONT, "", 10)


def _models(pdf: ReportPDF, report: VisitReport) -> None:
    versions = report.model_versions
    if not versions:
        return
    pdf.line_of_text("Models", 12, bold=True)
    for version in versions:
        test = version.test_metrics
        if test:
            figures = f"accuracy {_percent(test.get('accuracy'), 1)}"
            if test.get("balanced_accuracy") is not None:
                figures += f", balanced accuracy {_percent(test['balanced_accuracy'], 1)}"
            if test.get("mel_flag_sensitivity") is not None:
                figures += (
                    f", melanoma flag sensitivity {_percent(test['mel_flag_sensitivity'], 1)} / specificity "
                    f"{_percent(test.get('mel_flag_specificity'), 1)}"
                )
            text = f"{version.name} ({version.architecture}): on its held-out test set, {figures}."
        else:
            text = f"{version.name} ({version.architecture}): not measured on a test set."
        pdf.line_of_text(text, 9)
    pdf.gap(3)


def visit_report_pdf(report: VisitReport, *, printed_by: str, printed_at: dt.datetime) -> bytes:
    """The report as PDF bytes."""
    visit, patient = report.visit, report.patient
    pdf = ReportPDF(
        footer_text=f"{patient.full_name} ({patient.medical_record_number}) · visit {visit.date:%Y-%m-%d} · printed "
        f"{printed_at:%Y-%m-%d %H:%M} by {printed_by} · decision support, not a diagnosis"
    )
    pdf.set_title(f"Visit report {visit.date:%Y-%m-%d} · {patient.full_name}")
    pdf.set_author("DermaTrack")
    pdf.set_creator("DermaTrack")
    pdf.add_page()
    pdf.line_of_text(f"DermaTrack · {patient.clinic.name}", 9, colour=MUTED)
    pdf.line_of_text("Visit report", 18, bold=True)
    pdf.gap(2)
    _facts(pdf, report)
    pdf.gap(3)
    assessment_section(pdf, report)
    if visit.notes:
        pdf.line_of_text("Notes", 12, bold=True)
        pdf.line_of_text(visit.notes, 10)
        pdf.gap(3)
    count = len(report.entries)
    pdf.line_of_text(f"Lesions seen ({count} photo{'' if count == 1 else 's'})", 14, bold=True)
    pdf.gap(2)
    if not report.entries:
        pdf.line_of_text("No photos were taken at this visit.", 10, colour=MUTED)
    for number, entry in enumerate(report.entries, start=1):
        _entry(pdf, number, entry)
    # The models and the disclaimer stay together: a page never holds the disclaimer alone.
    pdf.ensure_room(32 + 9 * len(report.model_versions))
    _models(pdf, report)
    pdf.line_of_text(disclaimer_text(), 9, bold=True)
    return pdf.finish()
