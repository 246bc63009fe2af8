"""What each FHIR resource says, and that every one served validates with the FHIR library."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from interop.disclaimer import disclaimer_text
from interop.fhir import codes
from lesions.models import Lesion
from tests.factories import LesionFactory
from tests.interop.conftest import EARLIER, LATER, Records
from tests.interop.fhir.validation import valid

Api = Callable[[str], APIClient]


def fhir_get(api: APIClient, path: str, **params: Any) -> dict[str, Any]:
    response = api.get(f"/fhir/{path}", params)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/fhir+json")
    assert "no-store" in response["Cache-Control"]
    return valid(response.json())


def component(resource: dict[str, Any], system: str, code: str) -> dict[str, Any]:
    return next(
        c
        for c in resource["component"]
        if c["code"]["coding"][0]["system"] == system and c["code"]["coding"][0]["code"] == code
    )


def test_the_patient_has_the_clinic_record_number_name_gender_and_birth_date(api_as: Api, records: Records) -> None:
    patient = records.patient

    resource = fhir_get(api_as("clinician"), f"Patient/{patient.uuid}")

    assert resource["id"] == str(patient.uuid)
    [identifier] = resource["identifier"]
    assert identifier["system"] == f"http://dermatrack.org/fhir/clinic/{patient.clinic.uuid}/mrn"
    assert identifier["value"] == "RD-1001"
    assert identifier["type"]["coding"][0]["code"] == "MR"
    assert resource["name"][0]["family"] == "Hale" and resource["name"][0]["given"] == ["Margaret"]
    assert resource["gender"] == "female"
    assert resource["birthDate"] == patient.date_of_birth.isoformat()
    assert resource["managingOrganization"]["display"] == "Riverside Test Clinic"


def test_the_identifier_system_follows_the_setting(api_as: Api, records: Records, settings: Any) -> None:
    settings.FHIR_IDENTIFIER_SYSTEM_BASE = "https://derma.example.org/ids/"

    resource = fhir_get(api_as("clinician"), f"Patient/{records.patient.uuid}")

    assert resource["identifier"][0]["system"] == f"https://derma.example.org/ids/{records.patient.clinic.uuid}/mrn"


def test_a_body_structure_codes_the_site_in_snomed_with_text(api_as: Api, records: Records) -> None:
    api = api_as("clinician")

    mole = fhir_get(api, f"BodyStructure/{records.mole.uuid}")
    back = fhir_get(api, f"BodyStructure/{records.back.uuid}")

    assert mole["location"] == {
        "coding": [{"system": "http://snomed.info/sct", "code": "53120007", "display": "Upper limb structure"}],
        "text": "Upper extremity",
    }
    assert mole["patient"]["reference"] == f"Patient/{records.patient.uuid}"
    assert mole["description"].startswith("Left shoulder mole")
    assert back["location"]["coding"][0]["code"] == "22943007"  # trunk
    assert back["locationQualifier"][0]["coding"][0]["code"] == "255551008"  # posterior
    assert back["location"]["text"] == "Posterior torso – left side"


def test_a_site_without_one_snomed_code_is_sent_as_text_only(api_as: Api, patient: Any) -> None:
    lesion = LesionFactory(patient=patient, label="Sole", body_site=Lesion.BodySite.PALMS_SOLES)

    resource = fhir_get(api_as("clinician"), f"BodyStructure/{lesion.uuid}")

    assert resource["location"] == {"text": "Palms / soles"}
    assert "locationQualifier" not in resource


def test_a_confirmed_diagnosis_is_the_morphology(api_as: Api, records: Records) -> None:
    Lesion.objects.filter(pk=records.mole.pk).update(diagnosis="mel", diagnosis_confirmation="histo")

    resource = fhir_get(api_as("clinician"), f"BodyStructure/{records.mole.uuid}")

    assert resource["morphology"]["coding"][0] == codes.HAM10000.coding("mel")
    assert "histopathology" in resource["morphology"]["text"]


def test_media_links_the_photo_behind_the_token_and_never_inlines_it(api_as: Api, records: Records) -> None:
    image = records.mole_later
    api = api_as("clinician")

    resource = fhir_get(api, f"Media/{image.uuid}")

    content = resource["content"]
    assert "data" not in content
    assert content["url"] == f"http://testserver/api/v1/images/{image.uuid}/file/"
    assert content["contentType"] == "image/jpeg"
    assert resource["createdDateTime"] == LATER.isoformat()
    assert resource["modality"]["coding"][0] == {
        "system": "http://dermatrack.org/fhir/CodeSystem/image-type",
        "code": "dermoscopic",
        "display": "Dermoscopic",
    }
    assert resource["bodySite"]["extension"][0]["valueReference"]["reference"] == f"BodyStructure/{records.mole.uuid}"
    assert api.get(content["url"]).status_code == 200
    assert api_as("anonymous").get(content["url"]).status_code == 401


def test_an_observation_has_the_top_class_the_seven_probabilities_the_flag_and_the_model(
    api_as: Api, records: Records
) -> None:
    prediction = records.prediction(records.mole_later)
    api = api_as("clinician")

    resource = fhir_get(api, f"Observation/{prediction.uuid}")

    assert resource["status"] == "final"
    assert resource["valueCodeableConcept"]["coding"][0] == codes.HAM10000.coding("mel")
    probabilities = [c for c in resource["component"] if c["code"]["coding"][0]["system"] == codes.HAM10000.url]
    assert [c["code"]["coding"][0]["code"] for c in probabilities] == ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]
    assert component(resource, codes.HAM10000.url, "mel")["valueQuantity"] == {
        "value": 62.0,
        "unit": "%",
        "system": "http://unitsofmeasure.org",
        "code": "%",
    }
    assert component(resource, codes.ANALYSIS.url, "melanoma-flag")["valueBoolean"] is True
    assert resource["derivedFrom"] == [{"reference": f"Media/{records.mole_later.uuid}"}]
    assert resource["subject"]["reference"] == f"Patient/{records.patient.uuid}"
    assert resource["effectiveDateTime"] == LATER.isoformat()
    device = fhir_get(api, resource["device"]["reference"])
    assert device["deviceName"][0]["name"] == "efficientnet_test"
    assert any(n["text"] == disclaimer_text() for n in resource["note"])


def test_the_outline_measurements_are_in_ucum_millimetres_with_a_pixel_size(api_as: Api, records: Records) -> None:
    prediction = records.prediction(records.mole_later)

    resource = fhir_get(api_as("clinician"), f"Observation/{prediction.uuid}")

    area = component(resource, codes.ANALYSIS.url, "lesion-area")["valueQuantity"]
    diameter = component(resource, codes.ANALYSIS.url, "lesion-diameter")["valueQuantity"]
    image = records.mole_later
    assert area == {
        "value": round(0.15 * image.width * image.height * 0.05**2, 3),
        "unit": "mm2",
        "system": "http://unitsofmeasure.org",
        "code": "mm2",
    }
    assert diameter["code"] == "mm" and diameter["value"] == pytest.approx(0.5 * image.width * 0.05)


def test_without_a_pixel_size_the_measurements_are_shares_of_the_photo(api_as: Api, records: Records) -> None:
    image = records.mole_later
    image.mm_per_pixel = None
    image.save()

    resource = fhir_get(api_as("clinician"), f"Observation/{records.prediction(image).uuid}")

    assert component(resource, codes.ANALYSIS.url, "lesion-area-relative")["valueQuantity"]["value"] == 15.0
    assert not any(c["code"]["coding"][0]["code"] == "lesion-area" for c in resource["component"])


def test_without_an_outline_there_are_no_measurements(api_as: Api, records: Records) -> None:
    resource = fhir_get(api_as("clinician"), f"Observation/{records.prediction(records.back_later).uuid}")

    assert len(resource["component"]) == 7 + 2  # the probabilities, the flag and its threshold


def test_a_pending_analysis_is_no_observation(api_as: Api, records: Records) -> None:
    prediction = records.prediction(records.back_later)
    prediction.status = "pending"
    prediction.top_class = ""
    prediction.save()

    response = api_as("clinician").get(f"/fhir/Observation/{prediction.uuid}")

    assert response.status_code == 404
    assert valid(response.json())["resourceType"] == "OperationOutcome"


def test_the_device_carries_the_measured_test_figures(api_as: Api, records: Records) -> None:
    resource = fhir_get(api_as("clinician"), f"Device/{codes.device_id(records.model)}")

    figures = {p["type"]["coding"][0]["code"]: p["valueQuantity"][0]["value"] for p in resource["property"]}
    assert figures == {
        "test-accuracy": 90.0,
        "test-balanced-accuracy": 80.0,
        "test-melanoma-flag-sensitivity": 95.0,
        "test-melanoma-flag-specificity": 85.0,
    }
    assert resource["status"] == "active"


def test_the_diagnostic_report_groups_the_visit_with_the_disclaimer_and_the_pdf(api_as: Api, records: Records) -> None:
    visit = records.later
    api = api_as("clinician")

    resource = fhir_get(api, f"DiagnosticReport/{visit.uuid}")

    assert resource["status"] == "final"
    assert resource["effectiveDateTime"] == LATER.isoformat()
    assert {r["reference"] for r in resource["result"]} == {
        f"Observation/{records.prediction(records.mole_later).uuid}",
        f"Observation/{records.prediction(records.back_later).uuid}",
    }
    assert {m["link"]["reference"] for m in resource["media"]} == {
        f"Media/{records.mole_later.uuid}",
        f"Media/{records.back_later.uuid}",
    }
    assert resource["conclusion"] == disclaimer_text()
    assert "not a diagnosis" in resource["conclusion"]
    [form] = resource["presentedForm"]
    assert form["contentType"] == "application/pdf"
    assert form["url"] == f"http://testserver/api/v1/visits/{visit.uuid}/report/"
    pdf = api.get(form["url"])
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_a_report_with_an_analysis_still_running_is_partial(api_as: Api, records: Records) -> None:
    prediction = records.prediction(records.back_later)
    prediction.status = "running"
    prediction.save()

    resource = fhir_get(api_as("clinician"), f"DiagnosticReport/{records.later.uuid}")

    assert resource["status"] == "partial"
    assert len(resource["result"]) == 1


def test_the_capability_statement_lists_what_is_served(api_as: Api, db: None) -> None:
    resource = fhir_get(api_as("anonymous"), "metadata")

    assert resource["fhirVersion"] == "4.0.1"
    served = {r["type"]: r for r in resource["rest"][0]["resource"]}
    assert set(served) == {
        "Patient",
        "BodyStructure",
        "Media",
        "Observation",
        "DiagnosticReport",
        "ClinicalImpression",
        "Device",
        "CodeSystem",
    }
    assert {p["name"] for p in served["Patient"]["searchParam"]} == {"identifier", "family", "birthdate", "_id"}
    assert served["Patient"]["operation"][0]["name"] == "everything"


def test_our_code_systems_are_served(api_as: Api, db: None) -> None:
    resource = fhir_get(api_as("anonymous"), "CodeSystem/ham10000-class")

    assert resource["url"] == codes.HAM10000.url
    assert [c["code"] for c in resource["concept"]] == ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]


def test_everything_is_a_paged_bundle_of_all_the_patients_resources(api_as: Api, records: Records) -> None:
    api = api_as("clinician")

    first = fhir_get(api, f"Patient/{records.patient.uuid}/$everything", _count=5)

    assert first["type"] == "searchset"
    # patient, 2 lesions, 1 model, 3 photos, 3 analyses, 2 visits
    assert first["total"] == 12
    assert len(first["entry"]) == 5
    links = {link["relation"]: link["url"] for link in first["link"]}
    seen = [e["resource"]["resourceType"] for e in first["entry"]]
    while "next" in links:
        page = fhir_get(api, links["next"].removeprefix("http://testserver/fhir/"))
        seen += [e["resource"]["resourceType"] for e in page["entry"]]
        links = {link["relation"]: link["url"] for link in page["link"]}
    assert seen == [
        "Patient",
        *["BodyStructure"] * 2,
        "Device",
        *["Media"] * 3,
        *["Observation"] * 3,
        *["DiagnosticReport"] * 2,
    ]
    assert first["entry"][0]["fullUrl"] == f"http://testserver/fhir/Patient/{records.patient.uuid}"


def test_everything_reports_visits_oldest_first(api_as: Api, records: Records) -> None:
    bundle = fhir_get(api_as("clinician"), f"Patient/{records.patient.uuid}/$everything", _count=100)

    reports = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "DiagnosticReport"]
    assert [r["effectiveDateTime"] for r in reports] == [EARLIER.isoformat(), LATER.isoformat()]
    assert "link" in bundle and not any(link["relation"] == "next" for link in bundle["link"])


def test_an_unknown_path_answers_an_operation_outcome(api_as: Api, db: None) -> None:
    response = api_as("clinician").get("/fhir/Encounter/abc")

    assert response.status_code == 404
    assert valid(response.json())["issue"][0]["code"] == "not-supported"


def test_the_api_schema_leaves_fhir_out(client: Any, db: None) -> None:
    schema = client.get(reverse("api-schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    assert not any(path.startswith("/fhir/") for path in schema["paths"])
