"""The one vocabulary of confirmed diagnoses: histopathology terms, their SNOMED CT concepts, their model class.

Torch-free and Django-free (like ``ml.engine.labels``), so that records, pages, the agreement
page and FHIR name a result the same way. Each term maps to one of the analysis' 7 classes, or to
none (``model_class`` empty: the analysis has no class for it, e.g. invasive squamous cell
carcinoma, which HAM10000 does not contain); ``Lesion.diagnosis`` keeps that class ("other" for
none), so everything that compares with the model reads one field.

SNOMED CT concept ids are given only where they were checked against published value sets;
a term without one is sent by its text alone. The ``*_unspecified`` terms keep the meaning of
diagnoses recorded before this vocabulary (one of the 7 classes, not the exact entity).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SNOMED_CT = "http://snomed.info/sct"


@dataclass(frozen=True)
class HistopathologyTerm:
    code: str
    label: str
    model_class: str  # one of ml.engine.labels.HAM10000_CLASSES, or "" (none)
    snomed: str = ""  # SNOMED CT concept id ("" where none was confirmed)
    snomed_display: str = ""
    legacy: bool = False  # kept for diagnoses recorded before the vocabulary

    @property
    def diagnosis(self) -> str:
        """The record's model-class diagnosis (``Lesion.diagnosis``): the class, or "other"."""
        return self.model_class or OTHER_DIAGNOSIS


OTHER_DIAGNOSIS = "other"
MELANOMA_INVASIVE = "melanoma_invasive"
OTHER = "other"

TERMS: tuple[HistopathologyTerm, ...] = (
    HistopathologyTerm("melanoma_in_situ", "Melanoma in situ", "mel", "189758001", "Melanoma in situ"),
    HistopathologyTerm(MELANOMA_INVASIVE, "Invasive melanoma", "mel", "93655004", "Malignant melanoma of skin"),
    HistopathologyTerm("dysplastic_naevus", "Dysplastic naevus", "nv", "254818000", "Dysplastic naevus of skin"),
    HistopathologyTerm("common_naevus", "Common melanocytic naevus (junctional, compound, dermal)", "nv"),
    HistopathologyTerm("seborrhoeic_keratosis", "Seborrhoeic keratosis", "bkl"),
    HistopathologyTerm("solar_lentigo", "Solar lentigo", "bkl"),
    HistopathologyTerm("lichen_planus_like_keratosis", "Lichen planus-like keratosis", "bkl"),
    HistopathologyTerm("actinic_keratosis", "Actinic keratosis", "akiec", "201101007", "Actinic keratosis"),
    HistopathologyTerm(
        "bowens_disease",
        "Bowen's disease (squamous cell carcinoma in situ)",
        "akiec",
        "254656002",
        "Squamous cell carcinoma in situ of skin",
    ),
    HistopathologyTerm(
        "squamous_cell_carcinoma",
        "Squamous cell carcinoma (invasive)",
        "",
        "254651007",
        "Squamous cell carcinoma of skin",
    ),
    HistopathologyTerm(
        "basal_cell_carcinoma", "Basal cell carcinoma", "bcc", "254701007", "Basal cell carcinoma of skin"
    ),
    HistopathologyTerm("dermatofibroma", "Dermatofibroma", "df"),
    HistopathologyTerm("vascular_lesion", "Vascular lesion (angioma, angiokeratoma, pyogenic granuloma)", "vasc"),
    HistopathologyTerm(OTHER, "Other (describe)", ""),
    # Diagnoses recorded as one of the 7 classes before the vocabulary existed.
    HistopathologyTerm("melanoma_unspecified", "Melanoma, in situ or invasive not recorded", "mel", legacy=True),
    HistopathologyTerm("naevus_unspecified", "Melanocytic naevus, type not recorded", "nv", legacy=True),
    HistopathologyTerm("benign_keratosis_unspecified", "Benign keratosis, type not recorded", "bkl", legacy=True),
    HistopathologyTerm(
        "akiec_unspecified", "Actinic keratosis or intraepithelial carcinoma, not recorded which", "akiec", legacy=True
    ),
)

BY_CODE: dict[str, HistopathologyTerm] = {term.code: term for term in TERMS}

# The term a diagnosis recorded as a model class (or "other") becomes: the exact entity where the
# class is one entity, else the class's "not recorded" term.
TERM_FOR_DIAGNOSIS: dict[str, str] = {
    "mel": "melanoma_unspecified",
    "nv": "naevus_unspecified",
    "bkl": "benign_keratosis_unspecified",
    "akiec": "akiec_unspecified",
    "bcc": "basal_cell_carcinoma",
    "df": "dermatofibroma",
    "vasc": "vascular_lesion",
    OTHER_DIAGNOSIS: OTHER,
}

CHOICES: list[tuple[str, str]] = [(term.code, term.label) for term in TERMS]

# Breslow thickness in mm: invasive melanomas are rarely thicker than a few cm.
BRESLOW_MAX_MM = 100.0


def term(code: str) -> HistopathologyTerm | None:
    return BY_CODE.get(code)


def diagnosis_of(code: str) -> str:
    """The model-class diagnosis of a term ("" for no term)."""
    found = BY_CODE.get(code)
    return found.diagnosis if found else ""


def term_for_diagnosis(diagnosis: str) -> str:
    """The term that keeps the meaning of a model-class diagnosis ("" for none)."""
    return TERM_FOR_DIAGNOSIS.get(diagnosis, "")


def is_melanoma(code: str) -> bool:
    found = BY_CODE.get(code)
    return found is not None and found.model_class == "mel"


__all__ = [
    "BRESLOW_MAX_MM",
    "CHOICES",
    "MELANOMA_INVASIVE",
    "OTHER",
    "SNOMED_CT",
    "TERMS",
    "HistopathologyTerm",
    "diagnosis_of",
    "is_melanoma",
    "term",
    "term_for_diagnosis",
]


def errors_of(lesion: Any) -> dict[str, str]:
    """A lesion's result rules (``lesions.models.Lesion``), with its ``diagnosis`` kept the result's model class.

    A result sets the diagnosis (its class, or "other"); a diagnosis given alone (as the
    7-class records did) gets the term that keeps its meaning. Breslow thickness and
    ulceration belong to invasive melanoma only; an invasive melanoma needs its thickness;
    "other" needs its description.
    """
    if lesion.histopathology:
        lesion.diagnosis = diagnosis_of(lesion.histopathology) or lesion.diagnosis
    elif lesion.diagnosis:
        lesion.histopathology = term_for_diagnosis(lesion.diagnosis)
    errors: dict[str, str] = {}
    invasive = lesion.histopathology == MELANOMA_INVASIVE
    thickness = lesion.breslow_thickness_mm
    if invasive and thickness is None:
        errors["breslow_thickness_mm"] = "Give the Breslow thickness of the invasive melanoma (mm)."
    elif thickness is not None and not invasive:
        errors["breslow_thickness_mm"] = "Breslow thickness is recorded for invasive melanoma only."
    elif thickness is not None and not 0 < thickness <= BRESLOW_MAX_MM:
        errors["breslow_thickness_mm"] = f"Breslow thickness must be more than 0 and at most {BRESLOW_MAX_MM:g} mm."
    if lesion.ulceration is not None and not invasive:
        errors["ulceration"] = "Ulceration is recorded for invasive melanoma only."
    if lesion.histopathology == OTHER and not lesion.histopathology_text.strip():
        errors["histopathology_text"] = "Describe the result."
    elif lesion.histopathology != OTHER and lesion.histopathology_text:
        lesion.histopathology_text = ""
    return errors


def display_of(lesion: Any) -> str:
    """A lesion's confirmed result in words, with the melanoma's thickness and ulceration or the described other."""
    found = term(lesion.histopathology)
    if found is None:
        return str(lesion.get_diagnosis_display()) if lesion.diagnosis else ""
    if found.code == OTHER:
        return f"Other: {lesion.histopathology_text}" if lesion.histopathology_text else found.label
    text = found.label
    if found.code == MELANOMA_INVASIVE and lesion.breslow_thickness_mm is not None:
        text += f", Breslow {lesion.breslow_thickness_mm:.2f} mm"
        if lesion.ulceration is not None:
            text += ", ulcerated" if lesion.ulceration else ", not ulcerated"
    return text
