"""Every FHIR endpoint for the four callers: the clinic's clinician and admin read, the outsider gets
404 (never 403), anonymous 401; every answer is FHIR JSON, not cached, and reads are audited."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from auditlog.models import LogEntry
from rest_framework.test import APIClient

from interop.fhir import codes
from tests.helpers import CALLERS
from tests.interop.conftest import Records
from tests.interop.fhir.validation import valid

Api = Callable[[str], APIClient]

EXPECTED = {"clinician": 200, "clinic_admin": 200, "outsider": 404, "anonymous": 401}

PATHS: dict[str, Callable[[Records], str]] = {
    "Patient": lambda r: f"Patient/{r.patient.uuid}",
    "Patient $everything": lambda r: f"Patient/{r.patient.uuid}/$everything",
    "BodyStructure": lambda r: f"BodyStructure/{r.mole.uuid}",
    "Media": lambda r: f"Media/{r.mole_later.uuid}",
    "Observation": lambda r: f"Observation/{r.prediction(r.mole_later).uuid}",
    "DiagnosticReport": lambda r: f"DiagnosticReport/{r.later.uuid}",
}


def fhir_answer(response: Any) -> dict[str, Any]:
    assert response["Content-Type"] == "application/fhir+json; charset=utf-8"
    assert "no-store" in response["Cache-Control"]
    return valid(response.json())


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("resource", PATHS)
def test_a_record_is_read_only_inside_the_callers_clinics(
    api_as: Api, records: Records, caller: str, resource: str
) -> None:
    response = api_as(caller).get(f"/fhir/{PATHS[resource](records)}")

    assert response.status_code == EXPECTED[caller]
    body = fhir_answer(response)
    if EXPECTED[caller] == 200:
        assert body["resourceType"] == ("Bundle" if resource == "Patient $everything" else resource)
    else:
        assert body["resourceType"] == "OperationOutcome"
        assert body["issue"][0]["code"] == {404: "not-found", 401: "login"}[EXPECTED[caller]]


@pytest.mark.parametrize("caller", CALLERS)
def test_a_patient_search_shows_only_the_callers_clinics(api_as: Api, records: Records, caller: str) -> None:
    response = api_as(caller).get("/fhir/Patient", {"identifier": "RD-1001"})

    if caller == "anonymous":
        assert response.status_code == 401
        return
    bundle = fhir_answer(response)
    found = [entry["resource"]["id"] for entry in bundle.get("entry", [])]
    assert found == ([] if caller == "outsider" else [str(records.patient.uuid)])


@pytest.mark.parametrize("caller", CALLERS)
def test_a_patient_is_created_only_in_the_callers_clinic(api_as: Api, records: Records, caller: str) -> None:
    resource = {
        "resourceType": "Patient",
        "identifier": [{"system": codes.identifier_system(records.patient.clinic), "value": "RD-7"}],
        "name": [{"family": "New", "given": ["Person"]}],
    }

    response = api_as(caller).post("/fhir/Patient", resource, format="json")

    assert response.status_code == {"clinician": 201, "clinic_admin": 201, "outsider": 422, "anonymous": 401}[caller]
    fhir_answer(response)


@pytest.mark.parametrize("caller", CALLERS)
def test_models_are_read_by_any_signed_in_caller(api_as: Api, records: Records, caller: str) -> None:
    response = api_as(caller).get(f"/fhir/Device/{codes.device_id(records.model)}")

    assert response.status_code == (401 if caller == "anonymous" else 200)
    fhir_answer(response)


@pytest.mark.parametrize("caller", CALLERS)
def test_the_capability_statement_and_code_systems_are_public(api_as: Api, db: None, caller: str) -> None:
    for path in ("metadata", "CodeSystem/analysis"):
        response = api_as(caller).get(f"/fhir/{path}")
        assert response.status_code == 200
        fhir_answer(response)


def test_a_malformed_or_unknown_id_is_a_404_outcome(api_as: Api, records: Records) -> None:
    api = api_as("clinician")

    for path in ("Patient/not-a-uuid", "Media/00000000-0000-0000-0000-000000000000", "Device/x", "CodeSystem/x"):
        response = api.get(f"/fhir/{path}")
        assert response.status_code == 404, path
        assert fhir_answer(response)["issue"][0]["code"] == "not-found"


@pytest.mark.parametrize("method", ["delete", "put", "options"])
def test_a_method_not_served_is_a_405_outcome(api_as: Api, records: Records, method: str) -> None:
    response = getattr(api_as("clinician"), method)(f"/fhir/Patient/{records.patient.uuid}")

    assert response.status_code == 405
    assert fhir_answer(response)["issue"][0]["code"] == "not-supported"


def test_reads_are_audited_with_the_token_caller_as_actor(api_as: Api, records: Records, clinician: Any) -> None:
    api_as("clinician").get(f"/fhir/Patient/{records.patient.uuid}/$everything", {"_count": 100})

    reads = LogEntry.objects.filter(action=LogEntry.Action.ACCESS, actor=clinician)
    read_models = {entry.content_type.model for entry in reads}
    assert {"patient", "lesion", "lesionimage", "prediction", "visit"} <= read_models
    assert reads.filter(object_pk=str(records.patient.pk)).exists()


def test_the_outsider_leaves_no_read_of_the_record(api_as: Api, records: Records, outsider: Any) -> None:
    api_as("outsider").get(f"/fhir/Patient/{records.patient.uuid}")

    assert not LogEntry.objects.filter(action=LogEntry.Action.ACCESS, actor=outsider).exists()


def test_a_path_with_a_newline_is_an_outcome_too(api_as: Api, records: Records) -> None:
    # "$" would match before the newline: found by the fuzz pass (.ci/fhir_fuzz.py).
    response = api_as("clinician").get(f"/fhir/Patient/{records.patient.uuid}%0A")

    assert response.status_code == 404
    assert fhir_answer(response)["resourceType"] == "OperationOutcome"


def test_a_patient_search_records_one_read_per_bundle_naming_its_patients(
    api_as: Api, records: Records, clinician: Any
) -> None:
    from tests.factories import PatientFactory

    others = PatientFactory.create_batch(2, clinic=records.patient.clinic)
    before = LogEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0

    response = api_as("clinician").get("/fhir/Patient", {"_count": 50})

    assert response.status_code == 200
    (entry,) = LogEntry.objects.filter(action=LogEntry.Action.ACCESS, actor=clinician, pk__gt=before)
    assert entry.object_repr == "FHIR Patient search (3 patients)"
    listed = entry.additional_data["patients"]
    assert all(f",{p.pk}," in listed for p in [records.patient, *others])
