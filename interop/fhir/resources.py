"""Records and analyses as FHIR R4 resources (plain dicts, ready for JSON).

Pure mapping: every function takes rows the views loaded through the access check and returns a
resource; none queries the database beyond the relations the caller selected. Empty values are
left out (FHIR allows no empty strings, lists or objects). ``absolute`` turns a path into an
absolute URL of this server (the request's ``build_absolute_uri``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import Any, overload

from django.urls import reverse
from django.utils import timezone
from fhir.resources.R4B import get_fhir_model_class

from assessment.models import checklist_of
from interop.disclaimer import disclaimer_text
from interop.fhir import codes
from ml.engine.labels import HAM10000_CLASSES
from ml.models import class_probabilities, default_model_first, outline_of

Absolute = Callable[[str], str]


def _empty(value: Any) -> bool:
    return value is None or value == [] or value == {} or (isinstance(value, str) and not value.strip())


@overload
def compact(value: dict[str, Any]) -> dict[str, Any]: ...
@overload
def compact(value: list[Any]) -> list[Any]: ...
def compact(value: Any) -> Any:
    """``value`` without None, blank strings, empty lists and objects, at every depth (FHIR has no empty values)."""
    if isinstance(value, dict):
        items = ((key, compact(item)) for key, item in value.items())
        return {key: item for key, item in items if not _empty(item)}
    if isinstance(value, list):
        elements = [compact(item) for item in value]
        return [item for item in elements if not _empty(item)]
    return value


def instant(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, dt.UTC)
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def reference(resource_type: str, resource_id: Any, display: str = "") -> dict[str, str]:
    return compact({"reference": f"{resource_type}/{resource_id}", "display": display})


def patient_reference(patient: Any) -> dict[str, str]:
    return reference("Patient", patient.uuid, patient.full_name)


def body_site(lesion: Any) -> dict[str, Any]:
    """A bodySite CodeableConcept that also points at the lesion's BodyStructure (R4 extension)."""
    return {
        "extension": [
            {"url": codes.BODY_SITE_EXTENSION, "valueReference": reference("BodyStructure", lesion.uuid, lesion.label)}
        ],
        **codes.body_site_location(lesion),
    }


# --- Patient ---------------------------------------------------------------------------------


def patient_resource(patient: Any) -> dict[str, Any]:
    """Demographics, the record number and the identifiers other systems gave the patient."""
    other_identifiers = patient.fhir_identifiers.all()  # prefetched by the caller where it lists many
    return compact(
        {
            "resourceType": "Patient",
            "id": str(patient.uuid),
            "meta": {"lastUpdated": instant(patient.updated_at)},
            "identifier": [
                {
                    "use": "usual",
                    "type": {
                        "coding": [{"system": codes.IDENTIFIER_TYPE, "code": "MR", "display": "Medical record number"}],
                        "text": "Medical record number",
                    },
                    "system": codes.identifier_system(patient.clinic),
                    "value": patient.medical_record_number,
                    "assigner": {"display": patient.clinic.name},
                },
                *({"system": other.system, "value": other.value} for other in other_identifiers),
            ],
            "active": True,
            "name": [
                {
                    "use": "official",
                    "text": patient.full_name,
                    "family": patient.last_name.strip(),
                    "given": [patient.first_name.strip()],
                }
            ],
            # Patient.Sex's values are FHIR's administrative genders.
            "gender": patient.sex,
            "birthDate": patient.date_of_birth.isoformat() if patient.date_of_birth else None,
            "managingOrganization": {"display": patient.clinic.name},
        }
    )


# --- BodyStructure ---------------------------------------------------------------------------


def body_structure_resource(lesion: Any) -> dict[str, Any]:
    morphology = None
    if lesion.diagnosis:
        text = f"{lesion.result_display}, confirmed by {lesion.get_diagnosis_confirmation_display().lower()}"
        if lesion.diagnosis_date:
            text += f" on {lesion.diagnosis_date:%Y-%m-%d}"
        morphology = (
            codes.HAM10000.concept(lesion.diagnosis, text) if lesion.diagnosis in HAM10000_CLASSES else {"text": text}
        )
    return compact(
        {
            "resourceType": "BodyStructure",
            "id": str(lesion.uuid),
            "meta": {"lastUpdated": instant(lesion.updated_at)},
            "active": True,
            "morphology": morphology,
            "location": codes.body_site_location(lesion),
            "locationQualifier": codes.body_site_qualifier(lesion),
            "description": f"{lesion.label} ({lesion.get_status_display().lower()})",
            "patient": patient_reference(lesion.patient),
        }
    )


# --- Media -----------------------------------------------------------------------------------


def media_resource(image: Any, absolute: Absolute) -> dict[str, Any]:
    """A photo: the file as a URL that needs the caller's token (never inline), type and visit date."""
    lesion, visit = image.lesion, image.visit
    return compact(
        {
            "resourceType": "Media",
            "id": str(image.uuid),
            "meta": {"lastUpdated": instant(image.updated_at)},
            "status": "completed",
            "type": {"coding": [{"system": codes.MEDIA_TYPE, "code": "image", "display": "Image"}], "text": "Image"},
            "modality": codes.IMAGE_TYPE.concept(image.image_type),
            "subject": patient_reference(lesion.patient),
            "createdDateTime": visit.date.isoformat(),
            "issued": instant(image.created_at),
            "bodySite": body_site(lesion),
            "height": image.height,
            "width": image.width,
            "content": {
                "contentType": image.content_type,
                "url": absolute(reverse("api-image-file", kwargs={"uuid": image.uuid})),
                "size": image.file_size,
                "title": f"{image.get_image_type_display()} photo of {lesion.label} on {visit.date:%Y-%m-%d}",
            },
            "note": [{"text": f"Pixel size {image.pixel_size_mm:g} mm ({image.pixel_size_source})"}]
            if image.pixel_size_mm is not None
            else [],
        }
    )


# --- Device ----------------------------------------------------------------------------------


def device_resource(model_version: Any) -> dict[str, Any]:
    """A model version: name, architecture, weights and its measured test figures."""
    test = model_version.test_metrics
    figures = [
        (codes.MODEL_ACCURACY, test.get("accuracy")),
        (codes.MODEL_BALANCED_ACCURACY, test.get("balanced_accuracy")),
        (codes.MODEL_MELANOMA_SENSITIVITY, test.get("mel_flag_sensitivity")),
        (codes.MODEL_MELANOMA_SPECIFICITY, test.get("mel_flag_specificity")),
    ]
    return compact(
        {
            "resourceType": "Device",
            "id": codes.device_id(model_version),
            "meta": {"lastUpdated": instant(model_version.updated_at)},
            "status": "active" if model_version.is_active else "inactive",
            "manufacturer": "DermaTrack",
            "deviceName": [{"name": model_version.name, "type": "model-name"}],
            "modelNumber": model_version.architecture,
            "type": {"text": "Skin lesion photo classifier (decision-support software, not a diagnostic device)"},
            "version": [{"type": {"text": "weights sha256"}, "value": model_version.weights_sha256}],
            "property": [
                {"type": codes.ANALYSIS.concept(code), "valueQuantity": [codes.percent(float(value))]}
                for code, value in figures
                if isinstance(value, int | float)
            ],
            "note": [{"text": model_version.description}],
        }
    )


# --- Observation -----------------------------------------------------------------------------


def _measurement_components(image: Any) -> list[dict[str, Any]]:
    outline = outline_of(image)
    measured = outline.measured if outline is not None else None
    if measured is None:
        return []
    if measured.area_mm2 is not None and measured.diameter_mm is not None:
        return [
            {
                "code": codes.ANALYSIS.concept(codes.LESION_AREA),
                "valueQuantity": codes.quantity(measured.area_mm2, "mm2"),
            },
            {
                "code": codes.ANALYSIS.concept(codes.LESION_DIAMETER),
                "valueQuantity": codes.quantity(measured.diameter_mm, "mm"),
            },
        ]
    return [
        {
            "code": codes.ANALYSIS.concept(codes.LESION_AREA_RELATIVE),
            "valueQuantity": codes.percent(measured.area_fraction, 3),
        },
        {
            "code": codes.ANALYSIS.concept(codes.LESION_DIAMETER_RELATIVE),
            "valueQuantity": codes.percent(measured.diameter_fraction, 3),
        },
    ]


def observation_resource(prediction: Any) -> dict[str, Any]:
    """A finished analysis: top class as the value, the 7 probabilities, melanoma flag and measurements."""
    image = prediction.image
    lesion, visit = image.lesion, image.visit
    model_version = prediction.model_version
    probabilities = class_probabilities(prediction.probabilities)
    components: list[dict[str, Any]] = [
        {"code": codes.HAM10000.concept(code), "valueQuantity": codes.percent(probability)}
        for code, probability in probabilities.items()
    ]
    if prediction.melanoma_flag is not None:
        components.append(
            {"code": codes.ANALYSIS.concept(codes.MELANOMA_FLAG), "valueBoolean": prediction.melanoma_flag}
        )
    if prediction.melanoma_threshold is not None:
        components.append(
            {
                "code": codes.ANALYSIS.concept(codes.MELANOMA_THRESHOLD),
                "valueQuantity": codes.percent(prediction.melanoma_threshold),
            }
        )
    components.extend(_measurement_components(image))
    notes = [disclaimer_text()]
    if prediction.melanoma_flag:
        notes.insert(0, prediction.MELANOMA_FLAG_TEXT)
    if prediction.cam_in_lesion is not None:
        notes.append(f"{100 * prediction.cam_in_lesion:.0f}% of the Grad-CAM heatmap lies on the outlined lesion.")
    return compact(
        {
            "resourceType": "Observation",
            "id": str(prediction.uuid),
            "meta": {"lastUpdated": instant(prediction.updated_at)},
            "status": "final",
            "category": [{"coding": [{"system": codes.OBSERVATION_CATEGORY, "code": "imaging", "display": "Imaging"}]}],
            "code": codes.ANALYSIS.concept(codes.LESION_CLASSIFICATION),
            "subject": patient_reference(lesion.patient),
            "effectiveDateTime": visit.date.isoformat(),
            "issued": instant(prediction.finished_at or prediction.updated_at),
            "valueCodeableConcept": codes.HAM10000.concept(prediction.top_class),
            "note": [{"text": text} for text in notes],
            "bodySite": body_site(lesion),
            "method": {"text": f"{model_version.architecture} convolutional network, calibrated probabilities"},
            "device": reference("Device", codes.device_id(model_version), model_version.name),
            "derivedFrom": [reference("Media", image.uuid)],
            "component": components,
        }
    )


# --- DiagnosticReport ------------------------------------------------------------------------


def diagnostic_report_resource(visit: Any, images: Iterable[Any], absolute: Absolute) -> dict[str, Any]:
    """A visit: its photos and finished analyses, the disclaimer, and the PDF report."""
    images = list(images)
    predictions = [p for image in images for p in image.predictions.all()]
    done = sorted(
        (p for p in predictions if p.status == "done"),
        key=lambda p: (p.image.created_at, default_model_first(p.model_version)),
    )
    finished = all(p.is_finished for p in predictions)
    moments = [visit.updated_at, *(p.finished_at for p in done if p.finished_at)]
    clinician = visit.clinician
    return compact(
        {
            "resourceType": "DiagnosticReport",
            "id": str(visit.uuid),
            "meta": {"lastUpdated": instant(max(moments))},
            "status": "final" if finished else "partial",
            "code": codes.visit_report_code(),
            "subject": patient_reference(visit.patient),
            "effectiveDateTime": visit.date.isoformat(),
            "issued": instant(max(moments)),
            "performer": [{"display": clinician.get_full_name() or clinician.username}] if clinician else [],
            "result": [
                *(reference("Observation", p.uuid, f"{p.image.lesion.label}: {p.top_class_name}") for p in done),
                *(
                    reference("Observation", c.uuid, f"{image.lesion.label}: dermoscopy checklists")
                    for image in images
                    if (c := checklist_of(image)) is not None and c.pk is not None
                ),
            ],
            "media": [
                {
                    "comment": f"{image.get_image_type_display()} photo of {image.lesion.label}",
                    "link": reference("Media", image.uuid),
                }
                for image in images
            ],
            "conclusion": disclaimer_text(),
            "presentedForm": [
                {
                    "contentType": "application/pdf",
                    "language": "en",
                    "url": absolute(reverse("api-visit-report", kwargs={"uuid": visit.uuid})),
                    "title": f"Visit report {visit.date:%Y-%m-%d}, {visit.patient.full_name}",
                }
            ],
        }
    )


# --- CodeSystem ------------------------------------------------------------------------------


def code_system_resource(system: codes.CodeSystem) -> dict[str, Any]:
    return {
        "resourceType": "CodeSystem",
        "id": system.id,
        "url": system.url,
        "name": system.name,
        "title": system.title,
        "status": "active",
        "publisher": "DermaTrack",
        "description": system.description,
        "caseSensitive": True,
        "content": "complete",
        "count": len(system.concepts),
        "concept": [{"code": code, "display": display} for code, display in system.concepts],
    }


# --- subsets (_summary, _elements) -----------------------------------------------------------

SUBSETTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
    "display": "As requested, the resource has been subsetted (not all elements are shown).",
}
ALWAYS_KEPT = {"resourceType", "id", "meta"}


def _element_flags(resource_type: str) -> dict[str, tuple[str, bool, bool]]:
    """JSON name -> (the element's name, a choice's base name; in the summary; required), per fhir.resources."""
    flags = {}
    for name, field in get_fhir_model_class(resource_type).model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        key = field.alias or name
        base = str(extra.get("one_of_many") or key.lstrip("_"))
        required = bool(field.is_required() or extra.get("element_required") or extra.get("one_of_many_required"))
        flags[key] = (base, bool(extra.get("summary_element_property")), required)
    return flags


def subset(resource: dict[str, Any], *, summary: bool = False, elements: Iterable[str] | None = None) -> dict[str, Any]:
    """``resource`` reduced to its summary elements (``_summary=true``) or to ``elements``
    (``_elements``; the mandatory ones kept so that it stays valid), tagged SUBSETTED."""
    if not summary and elements is None:
        return resource
    flags = _element_flags(resource["resourceType"])
    wanted = set(elements or ())
    kept: dict[str, Any] = {}
    for key, value in resource.items():
        base, in_summary, required = flags.get(key, (key.lstrip("_"), False, False))
        if key in ALWAYS_KEPT or required or (in_summary if summary else base in wanted or key in wanted):
            kept[key] = value
    if kept.keys() == resource.keys():
        return resource
    meta = dict(kept.get("meta", {}))
    meta["tag"] = [*meta.get("tag", []), SUBSETTED]
    kept["meta"] = meta
    return kept


# --- OperationOutcome and Bundle -------------------------------------------------------------


def operation_outcome(
    diagnostics: str | list[str], code: str = "processing", severity: str = "error"
) -> dict[str, Any]:
    messages = [diagnostics] if isinstance(diagnostics, str) else diagnostics
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": message} for message in messages],
    }


def bundle(
    resources: list[dict[str, Any]],
    *,
    base: str,
    total: int | None,
    links: dict[str, str],
    warnings: Sequence[str] = (),
) -> dict[str, Any]:
    """A searchset Bundle of one page: ``links`` by relation (self, first, next, previous, last);
    ``warnings`` (what the search ignored) as an OperationOutcome entry of search mode outcome."""
    entries = [
        {
            "fullUrl": f"{base}{resource['resourceType']}/{resource['id']}",
            "resource": resource,
            "search": {"mode": "match"},
        }
        for resource in resources
    ]
    if warnings:
        entries.append(
            {
                "resource": operation_outcome(list(warnings), "not-supported", severity="warning"),
                "search": {"mode": "outcome"},
            }
        )
    return compact(
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "timestamp": instant(timezone.now()),
            "total": total,
            "link": [{"relation": relation, "url": url} for relation, url in links.items()],
            "entry": entries,
        }
    )
