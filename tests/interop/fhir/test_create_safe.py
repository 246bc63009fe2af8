"""Safe create of a FHIR Patient: conditional (If-None-Exist), Prefer: return, identifiers of other
systems kept, and what is not stored named rather than silently dropped."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from auditlog.models import LogEntry
from rest_framework.test import APIClient

from clinic.models import Clinic
from interop.fhir import codes
from interop.models import PatientIdentifier
from lesions.models import Patient
from tests.factories import PatientFactory
from tests.interop.fhir.validation import valid

Api = Callable[[str], APIClient]
HOSPITAL = "urn:oid:1.2.36.146.595.217.0.1"


def posted(clinic: Clinic, *more_identifiers: dict[str, Any], **changes: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "identifier": [{"system": codes.identifier_system(clinic), "value": "RD-2001"}, *more_identifiers],
        "name": [{"use": "official", "family": "Okonkwo", "given": ["Chidi"]}],
        "gender": "male",
        "birthDate": "1980-02-29",
    }
    resource.update(changes)
    return resource


def post(api: APIClient, resource: Any, url: str = "/fhir/Patient", **headers: str) -> Any:
    return api.post(url, json.dumps(resource), content_type="application/fhir+json", **headers)


# --- If-None-Exist -------------------------------------------------------------------------------


def test_a_conditional_create_sent_twice_makes_one_patient(api_as: Api, clinic: Clinic) -> None:
    api = api_as("clinician")
    condition = f"identifier={codes.identifier_system(clinic)}|RD-2001"

    first = post(api, posted(clinic), HTTP_IF_NONE_EXIST=condition)
    second = post(api, posted(clinic), HTTP_IF_NONE_EXIST=condition)

    assert (first.status_code, second.status_code) == (201, 200)
    assert Patient.objects.count() == 1
    assert valid(second.json())["id"] == valid(first.json())["id"] == str(Patient.objects.get().uuid)
    assert second["Location"] == first["Location"] and second["ETag"] == first["ETag"]
    patient = Patient.objects.get()
    accesses = LogEntry.objects.get_for_object(patient).filter(action=LogEntry.Action.ACCESS)
    assert accesses.count() == 1  # the second answer showed the patient: a read on the audit trail


def test_a_condition_on_the_family_name_finds_the_existing_patient(api_as: Api, clinic: Clinic) -> None:
    PatientFactory(clinic=clinic, last_name="Okonkwo", medical_record_number="RD-0001")

    response = post(api_as("clinician"), posted(clinic), HTTP_IF_NONE_EXIST="family:exact=Okonkwo")

    assert response.status_code == 200 and Patient.objects.count() == 1


def test_a_condition_matching_several_patients_is_a_412_and_creates_none(api_as: Api, clinic: Clinic) -> None:
    PatientFactory(clinic=clinic, last_name="Okonkwo", medical_record_number="RD-0001")
    PatientFactory(clinic=clinic, last_name="Okonkwo", medical_record_number="RD-0002")

    response = post(api_as("clinician"), posted(clinic), HTTP_IF_NONE_EXIST="family=Okonkwo")

    assert response.status_code == 412
    assert valid(response.json())["issue"][0]["code"] == "multiple-matches"
    assert Patient.objects.count() == 2


def test_a_condition_only_sees_the_callers_clinics(api_as: Api, clinic: Clinic, other_clinic: Clinic) -> None:
    PatientFactory(clinic=other_clinic, last_name="Okonkwo")

    response = post(api_as("clinician"), posted(clinic), HTTP_IF_NONE_EXIST="family=Okonkwo")

    assert response.status_code == 201 and Patient.objects.filter(clinic=clinic).count() == 1


@pytest.mark.parametrize("condition", ["", "colour=blue", "family=Okonkwo&colour=blue", "_count=1", "birthdate=x"])
def test_a_condition_that_cannot_be_searched_strictly_is_a_400(api_as: Api, clinic: Clinic, condition: str) -> None:
    PatientFactory(clinic=clinic, last_name="Okonkwo", medical_record_number="RD-0001")

    response = post(api_as("clinician"), posted(clinic), HTTP_IF_NONE_EXIST=condition)

    assert response.status_code == 400 and valid(response.json())["resourceType"] == "OperationOutcome"
    assert Patient.objects.count() == 1


def test_the_query_of_the_post_is_a_condition_too(api_as: Api, clinic: Clinic) -> None:
    api = api_as("clinician")
    url = "/fhir/Patient?identifier=RD-2001"

    statuses = [post(api, posted(clinic), url).status_code for _ in range(2)]

    assert statuses == [201, 200] and Patient.objects.count() == 1


# --- Prefer: return ------------------------------------------------------------------------------


def test_return_minimal_answers_no_body(api_as: Api, clinic: Clinic) -> None:
    response = post(api_as("clinician"), posted(clinic), HTTP_PREFER="return=minimal")

    assert response.status_code == 201 and response.content == b""
    assert response["Location"].endswith(f"/_history/{response['ETag'][3:-1]}")


def test_return_operation_outcome_names_what_was_not_stored(api_as: Api, clinic: Clinic) -> None:
    resource = posted(
        clinic,
        telecom=[{"system": "phone", "value": "+44 20 7946 0000"}],
        address=[{"city": "Leeds"}],
        extension=[{"url": "http://example.org/fhir/StructureDefinition/x", "valueString": "y"}],
        _birthDate={"extension": [{"url": "http://example.org/fhir/StructureDefinition/t", "valueString": "08:00"}]},
        name=[
            {"use": "official", "family": "Okonkwo", "given": ["Chidi"], "prefix": ["Dr"]},
            {"use": "nickname", "given": ["Chi"]},
        ],
    )

    response = post(api_as("clinician"), resource, HTTP_PREFER="return=OperationOutcome")

    assert response.status_code == 201
    outcome = valid(response.json())
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["severity"] == "information"
    expressions = [issue["expression"][0] for issue in outcome["issue"] if issue["severity"] == "warning"]
    assert expressions == [
        "Patient.telecom",
        "Patient.address",
        "Patient.extension",
        "Patient.birthDate.extension",
        "Patient.name[0].prefix",
        "Patient.name[1]",
    ]
    assert "Patient.telecom" in response["Warning"] and response["Warning"].startswith('299 - "')


def test_a_plain_create_says_in_a_warning_header_what_was_not_stored(api_as: Api, clinic: Clinic) -> None:
    response = post(api_as("clinician"), posted(clinic, telecom=[{"system": "phone", "value": "1"}]))

    assert response.status_code == 201 and valid(response.json())["resourceType"] == "Patient"
    assert "Patient.telecom" in response["Warning"]


def test_a_create_of_only_what_is_stored_has_no_warning(api_as: Api, clinic: Clinic) -> None:
    response = post(api_as("clinician"), posted(clinic), HTTP_PREFER="return=OperationOutcome")

    assert response.status_code == 201 and not response.has_header("Warning")
    assert [issue["severity"] for issue in valid(response.json())["issue"]] == ["information"]


def test_a_modifier_extension_is_refused_and_nothing_stored(api_as: Api, clinic: Clinic) -> None:
    resource = posted(
        clinic, modifierExtension=[{"url": "http://example.org/fhir/StructureDefinition/m", "valueBoolean": True}]
    )

    response = post(api_as("clinician"), resource)

    assert response.status_code == 422 and "modifierExtension" in valid(response.json())["issue"][0]["diagnostics"]
    assert not Patient.objects.exists()


# --- identifiers of other systems ----------------------------------------------------------------


def test_other_identifiers_are_kept_returned_and_searchable(api_as: Api, clinic: Clinic) -> None:
    api = api_as("clinician")
    resource = posted(
        clinic, {"system": HOSPITAL, "value": "12345", "use": "official"}, {"system": "urn:x", "value": "A"}
    )

    created = valid(post(api, resource).json())

    patient = Patient.objects.get()
    assert list(patient.fhir_identifiers.values_list("system", "value")) == [(HOSPITAL, "12345"), ("urn:x", "A")]
    assert [(i["system"], i["value"]) for i in created["identifier"][1:]] == [(HOSPITAL, "12345"), ("urn:x", "A")]
    found = valid(api.get("/fhir/Patient", {"identifier": f"{HOSPITAL}|12345"}).json())
    assert [e["resource"]["id"] for e in found["entry"]] == [str(patient.uuid)]


def test_an_identifier_another_patient_has_is_a_422_and_nothing_is_stored(api_as: Api, clinic: Clinic) -> None:
    other = PatientFactory(clinic=clinic, medical_record_number="RD-0001")
    PatientIdentifier.objects.create(clinic=clinic, patient=other, system=HOSPITAL, value="12345")

    response = post(api_as("clinician"), posted(clinic, {"system": HOSPITAL, "value": "12345"}))

    assert response.status_code == 422
    assert f"{HOSPITAL}|12345" in valid(response.json())["issue"][0]["diagnostics"]
    assert Patient.objects.count() == 1 and PatientIdentifier.objects.count() == 1


def test_the_same_identifier_may_belong_to_a_patient_of_another_clinic(
    api_as: Api, clinic: Clinic, other_clinic: Clinic
) -> None:
    other = PatientFactory(clinic=other_clinic)
    PatientIdentifier.objects.create(clinic=other_clinic, patient=other, system=HOSPITAL, value="12345")

    response = post(api_as("clinician"), posted(clinic, {"system": HOSPITAL, "value": "12345"}))

    assert response.status_code == 201 and PatientIdentifier.objects.filter(clinic=clinic).count() == 1


def test_an_identifier_too_long_is_a_422_and_nothing_is_stored(api_as: Api, clinic: Clinic) -> None:
    response = post(api_as("clinician"), posted(clinic, {"system": HOSPITAL, "value": "9" * 300}))

    assert response.status_code == 422 and not Patient.objects.exists()


def test_an_identifier_without_a_value_is_named_as_not_stored(api_as: Api, clinic: Clinic) -> None:
    response = post(api_as("clinician"), posted(clinic, {"system": HOSPITAL}), HTTP_PREFER="return=OperationOutcome")

    assert response.status_code == 201
    assert [i["expression"][0] for i in valid(response.json())["issue"] if i["severity"] == "warning"] == [
        "Patient.identifier[1]"
    ]
