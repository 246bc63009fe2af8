"""The vocabularies of the FHIR API: systems, our own CodeSystems, SNOMED CT body sites, UCUM units.

One place for every code the FHIR resources carry. Our own CodeSystems (the HAM10000 classes,
the analysis' observation codes, the photo types) have fixed canonical URLs, the same for every
DermaTrack installation, and are served at ``/fhir/CodeSystem/{id}``; a clinic's record numbers
get an identifier system of their own under ``FHIR_IDENTIFIER_SYSTEM_BASE``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from lesions.models import Lesion, LesionImage
from ml.engine.labels import CLASS_NAMES, HAM10000_CLASSES

FHIR_VERSION = "4.0.1"
FHIR_JSON = "application/fhir+json"

CANONICAL_BASE = "http://dermatrack.org/fhir"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
MEDIA_TYPE = "http://terminology.hl7.org/CodeSystem/media-type"
IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
DATA_ABSENT_REASON = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
BODY_SITE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/bodySite"


def identifier_system(clinic: Any) -> str:
    """The identifier system of a clinic's medical record numbers."""
    return f"{settings.FHIR_IDENTIFIER_SYSTEM_BASE.rstrip('/')}/{clinic.uuid}/mrn"


# --- our CodeSystems -------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeSystem:
    id: str
    name: str
    title: str
    description: str
    concepts: tuple[tuple[str, str], ...]  # (code, display)

    @property
    def url(self) -> str:
        return f"{CANONICAL_BASE}/CodeSystem/{self.id}"

    def display(self, code: str) -> str:
        return dict(self.concepts)[code]

    def coding(self, code: str) -> dict[str, str]:
        return {"system": self.url, "code": code, "display": self.display(code)}

    def concept(self, code: str, text: str | None = None) -> dict[str, Any]:
        """A CodeableConcept of one of our codes, with its text."""
        return {"coding": [self.coding(code)], "text": text or self.display(code)}


HAM10000 = CodeSystem(
    id="ham10000-class",
    name="HAM10000Class",
    title="HAM10000 skin lesion classes",
    description="The 7 diagnostic classes of the HAM10000 dermoscopy data set, as DermaTrack's models predict them.",
    concepts=tuple((code, CLASS_NAMES[code]) for code in HAM10000_CLASSES),
)

LESION_CLASSIFICATION = "lesion-classification"
MELANOMA_FLAG = "melanoma-flag"
MELANOMA_THRESHOLD = "melanoma-flag-threshold"
LESION_AREA = "lesion-area"
LESION_DIAMETER = "lesion-diameter"
LESION_AREA_RELATIVE = "lesion-area-relative"
LESION_DIAMETER_RELATIVE = "lesion-diameter-relative"
VISIT_REPORT = "visit-report"
MODEL_ACCURACY = "test-accuracy"
MODEL_BALANCED_ACCURACY = "test-balanced-accuracy"
MODEL_MELANOMA_SENSITIVITY = "test-melanoma-flag-sensitivity"
MODEL_MELANOMA_SPECIFICITY = "test-melanoma-flag-specificity"

ANALYSIS = CodeSystem(
    id="analysis",
    name="DermaTrackAnalysis",
    title="DermaTrack analysis codes",
    description="What DermaTrack's decision-support analysis of a lesion photo reports (not a diagnosis).",
    concepts=(
        (LESION_CLASSIFICATION, "Skin lesion classification by a convolutional network (HAM10000 classes)"),
        (MELANOMA_FLAG, "Suspicious for melanoma: P(mel) at or above the model's flag threshold"),
        (MELANOMA_THRESHOLD, "The model's melanoma flag threshold on P(mel)"),
        (LESION_AREA, "Area of the outlined lesion"),
        (LESION_DIAMETER, "Largest diameter (Feret) of the outlined lesion"),
        (LESION_AREA_RELATIVE, "Area of the outlined lesion, share of the photo (no pixel size known)"),
        (LESION_DIAMETER_RELATIVE, "Largest diameter of the outlined lesion, share of the photo's long side"),
        (VISIT_REPORT, "Dermatology lesion photo and analysis report of a visit"),
        (MODEL_ACCURACY, "Accuracy on the model's held-out test set"),
        (MODEL_BALANCED_ACCURACY, "Balanced accuracy on the model's held-out test set"),
        (MODEL_MELANOMA_SENSITIVITY, "Melanoma flag sensitivity on the model's held-out test set"),
        (MODEL_MELANOMA_SPECIFICITY, "Melanoma flag specificity on the model's held-out test set"),
    ),
)

IMAGE_TYPE = CodeSystem(
    id="image-type",
    name="DermaTrackImageType",
    title="DermaTrack photo types",
    description="How a lesion photo was taken.",
    concepts=tuple((str(value), str(label)) for value, label in LesionImage.ImageType.choices),
)

# The dermoscopy checklists and the clinician's assessment: no LOINC or SNOMED CT code names these
# scores, so they are ours (local codes, served like the others).
DERMOSCOPY_CHECKLISTS = "dermoscopy-checklists"
SEVEN_POINT_SCORE = "seven-point-score"
TOTAL_DERMOSCOPY_SCORE = "total-dermoscopy-score"
THREE_POINT_SCORE = "three-point-score"
CLINICAL_IMPRESSION = "dermatology-assessment"
DERMOSCOPY = CodeSystem(
    id="dermoscopy",
    name="DermaTrackDermoscopy",
    title="DermaTrack dermoscopy checklists and assessment",
    description="The 7-point checklist, the ABCD rule of dermoscopy (TDS) and the 3-point checklist, item by item, "
    "and the clinician's assessment of a visit.",
    concepts=(
        (DERMOSCOPY_CHECKLISTS, "Dermoscopy checklists of a lesion photo"),
        (SEVEN_POINT_SCORE, "7-point checklist score (3 or more suggests melanoma)"),
        (TOTAL_DERMOSCOPY_SCORE, "Total dermoscopy score, ABCD rule (TDS = 1.3A + 0.1B + 0.5C + 0.5D)"),
        (THREE_POINT_SCORE, "3-point checklist score (2 or more suggests referral)"),
        (CLINICAL_IMPRESSION, "Dermatology assessment of a visit: impression, differential and plan"),
        ("atypical_network", "7-point: atypical pigment network (major, 2 points)"),
        ("blue_white_veil", "7-point: blue-whitish veil (major, 2 points)"),
        ("atypical_vessels", "7-point: atypical vascular pattern (major, 2 points)"),
        ("irregular_streaks", "7-point: irregular streaks (minor, 1 point)"),
        ("irregular_dots", "7-point: irregular dots/globules (minor, 1 point)"),
        ("irregular_blotches", "7-point: irregular blotches (minor, 1 point)"),
        ("regression", "7-point: regression structures (minor, 1 point)"),
        ("abcd_asymmetry", "ABCD: asymmetry (0-2 axes)"),
        ("abcd_border", "ABCD: border, segments with an abrupt cut-off (0-8)"),
        ("abcd_colours", "ABCD: colours (1-6)"),
        ("abcd_structures", "ABCD: differential structures (1-5)"),
        ("tp_asymmetry", "3-point: asymmetry of colour and structure"),
        ("tp_atypical_network", "3-point: atypical network"),
        ("tp_blue_white", "3-point: blue-white structures"),
    ),
)

CODE_SYSTEMS = {system.id: system for system in (HAM10000, ANALYSIS, IMAGE_TYPE, DERMOSCOPY)}

# LOINC where a code fits, our own beside it. A visit's report is its photos and their analyses:
# LOINC 72170-4 "Photographic image" (document ontology, order and observation) names such a
# report; R4's preferred binding of DiagnosticReport.code is LOINC. The analyses themselves (a
# network's class probabilities, a melanoma flag, outline measurements) have no LOINC code that
# truly fits, so Observations keep our own codes only.
LOINC_PHOTOGRAPHIC_IMAGE = (LOINC, "72170-4", "Photographic image")


def visit_report_code() -> dict[str, Any]:
    """DiagnosticReport.code: LOINC's photographic image report and our visit report code."""
    return {
        "coding": [_coding(LOINC_PHOTOGRAPHIC_IMAGE), ANALYSIS.coding(VISIT_REPORT)],
        "text": ANALYSIS.display(VISIT_REPORT),
    }


# --- body sites ------------------------------------------------------------------------------

TRUNK = (SNOMED, "22943007", "Trunk structure")

# ISIC anatom_site_general -> SNOMED CT location and location qualifier. Palms/soles and
# oral/genital each name two different sites: no one code fits, they are sent as text only.
BODY_SITES: dict[str, tuple[tuple[str, str, str], tuple[str, str, str] | None]] = {
    Lesion.BodySite.HEAD_NECK: ((SNOMED, "774007", "Structure of head and/or neck"), None),
    Lesion.BodySite.UPPER_EXTREMITY: ((SNOMED, "53120007", "Upper limb structure"), None),
    Lesion.BodySite.LOWER_EXTREMITY: ((SNOMED, "61685007", "Lower limb structure"), None),
    Lesion.BodySite.ANTERIOR_TORSO: (TRUNK, (SNOMED, "255549009", "Anterior")),
    Lesion.BodySite.POSTERIOR_TORSO: (TRUNK, (SNOMED, "255551008", "Posterior")),
    Lesion.BodySite.LATERAL_TORSO: (TRUNK, (SNOMED, "49370004", "Lateral")),
}


def _coding(code: tuple[str, str, str]) -> dict[str, str]:
    system, value, display = code
    return {"system": system, "code": value, "display": display}


def body_site_text(lesion: Any) -> str:
    text = lesion.get_body_site_display()
    return f"{text} – {lesion.body_site_detail}" if lesion.body_site_detail else text


def body_site_location(lesion: Any) -> dict[str, Any]:
    """The lesion's body site as a CodeableConcept: SNOMED CT where one code fits, text always."""
    concept: dict[str, Any] = {"text": body_site_text(lesion)}
    known = BODY_SITES.get(lesion.body_site)
    if known is not None:
        concept["coding"] = [_coding(known[0])]
    return concept


# Lesion.Laterality -> SNOMED CT laterality qualifier values.
LATERALITY = {
    Lesion.Laterality.LEFT: (SNOMED, "7771000", "Left"),
    Lesion.Laterality.RIGHT: (SNOMED, "24028007", "Right"),
    Lesion.Laterality.MIDLINE: (SNOMED, "399488007", "Midline"),
}


def body_site_qualifier(lesion: Any) -> list[dict[str, Any]]:
    """The site's qualifier (anterior / posterior / lateral) where it has one, then the patient's side."""
    qualifiers = []
    known = BODY_SITES.get(lesion.body_site)
    if known is not None and known[1] is not None:
        qualifiers.append({"coding": [_coding(known[1])], "text": known[1][2].lower()})
    if side := LATERALITY.get(lesion.laterality):
        qualifiers.append({"coding": [_coding(side)], "text": side[2].lower()})
    return qualifiers


# --- units -----------------------------------------------------------------------------------


def quantity(value: float, unit: str, code: str | None = None, digits: int = 3) -> dict[str, Any]:
    """A UCUM Quantity (``unit`` as people read it, ``code`` as UCUM spells it)."""
    return {"value": round(float(value), digits), "unit": unit, "system": UCUM, "code": code or unit}


def percent(fraction: float, digits: int = 2) -> dict[str, Any]:
    return quantity(100 * float(fraction), "%", digits=digits)


# --- devices ---------------------------------------------------------------------------------

# Model versions have no public UUID of their own: a name-based one (RFC 4122 version 5) is
# stable across installations and databases, and never reveals the internal key.
DEVICE_NAMESPACE = uuid.UUID("6f0d3b0e-6a54-4f7e-9a53-2f1f0c6f2a11")


def device_id(model_version: Any) -> str:
    return str(uuid.uuid5(DEVICE_NAMESPACE, model_version.name))
