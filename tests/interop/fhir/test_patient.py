"""FHIR Patient: search by identifier, family and birthdate, and create from a posted resource."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from clinic.models import Clinic, Membership
from interop.fhir import codes
from lesions.models import Patient
from tests.factories import MembershipFactory, PatientFactory
from tests.interop.fhir.validation import valid

Api = Callable[[str], APIClient]


@pytest.fixture
def patients(clinic: Clinic, other_clinic: Clinic) -> dict[str, Patient]:
    return {
        "hale": PatientFactory(
            clinic=clinic, medical_record_number="RD-1001", last_name="Hale", date_of_birth=dt.date(1952, 3, 14)
        ),
        "hallam": PatientFactory(
            clinic=clinic, medical_record_number="RD-1002", last_name="Hallam", date_of_birth=dt.date(1968, 11, 2)
        ),
        "ibarra": PatientFactory(
            clinic=clinic, medical_record_number="RD-1003", last_name="Ibarra", date_of_birth=dt.date(1968, 6, 21)
        ),
        "nodob": PatientFactory(clinic=clinic, medical_record_number="RD-1004", last_name="Nodob", date_of_birth=None),
        # another clinic's patient with a record number and a name that match searches above
        "outside": PatientFactory(
            clinic=other_clinic, medical_record_number="RD-1001", last_name="Hale", date_of_birth=dt.date(1952, 3, 14)
        ),
    }


def search(api: APIClient, **params: Any) -> list[str]:
    response = api.get("/fhir/Patient", params)
    assert response.status_code == 200, response.content
    bundle = valid(response.json())
    assert bundle["total"] == len(bundle.get("entry", []))
    return [entry["resource"]["name"][0]["family"] for entry in bundle.get("entry", [])]


def system(clinic: Clinic) -> str:
    return codes.identifier_system(clinic)


def test_it_finds_a_patient_by_record_number_with_or_without_the_system(
    api_as: Api, patients: dict[str, Patient], clinic: Clinic
) -> None:
    api = api_as("clinician")

    assert search(api, identifier=f"{system(clinic)}|RD-1001") == ["Hale"]
    assert search(api, identifier="RD-1002") == ["Hallam"]
    assert search(api, identifier="RD-1001,RD-1003") == ["Hale", "Ibarra"]


def test_another_clinics_system_or_number_finds_nothing(
    api_as: Api, patients: dict[str, Patient], other_clinic: Clinic
) -> None:
    api = api_as("clinician")

    assert search(api, identifier=f"{system(other_clinic)}|RD-1001") == []
    assert search(api, identifier="urn:oid:1.2.3|RD-1001") == []
    assert search(api, identifier="RD-9999") == []


def test_the_outsider_finds_only_their_own_clinics_patient(api_as: Api, patients: dict[str, Patient]) -> None:
    outside = patients["outside"]

    response = api_as("outsider").get("/fhir/Patient", {"identifier": "RD-1001"})

    [entry] = response.json()["entry"]
    assert entry["resource"]["id"] == str(outside.uuid)


def test_family_matches_the_start_of_the_name_whatever_the_case(api_as: Api, patients: dict[str, Patient]) -> None:
    api = api_as("clinician")

    assert search(api, family="hal") == ["Hale", "Hallam"]
    assert search(api, **{"family:exact": "Hale"}) == ["Hale"]
    assert search(api, **{"family:contains": "barr"}) == ["Ibarra"]
    assert search(api, family="ale") == []


def test_birthdate_matches_a_day_a_month_or_a_year_and_compares(api_as: Api, patients: dict[str, Patient]) -> None:
    api = api_as("clinician")

    assert search(api, birthdate="1952-03-14") == ["Hale"]
    assert search(api, birthdate="1968") == ["Hallam", "Ibarra"]
    assert search(api, birthdate="1968-11") == ["Hallam"]
    assert search(api, birthdate="lt1960") == ["Hale"]
    assert search(api, birthdate="ge1968-07-01") == ["Hallam"]
    assert search(api, birthdate="ne1968") == ["Hale"]
    assert search(api, family="Ha", birthdate="gt1960") == ["Hallam"]


def test_a_repeated_parameter_narrows_the_search(api_as: Api, patients: dict[str, Patient]) -> None:
    response = api_as("clinician").get("/fhir/Patient?birthdate=ge1960&birthdate=lt1968-07")

    assert [e["resource"]["name"][0]["family"] for e in response.json()["entry"]] == ["Ibarra"]


@pytest.mark.parametrize(
    "query",
    ["birthdate=14/03/1952", "birthdate=1952-02-30", "_count=-1", "page=x", "identifier=", "_summary=count&page=0"],
)
def test_a_bad_value_is_a_400_outcome(api_as: Api, patients: dict[str, Patient], query: str) -> None:
    response = api_as("clinician").get(f"/fhir/Patient?{query}")

    assert response.status_code == 400
    outcome = valid(response.json())
    assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"][0]["code"] == "invalid"


def test_results_come_in_pages_with_links(api_as: Api, patients: dict[str, Patient]) -> None:
    api = api_as("clinician")

    first = valid(api.get("/fhir/Patient", {"_count": 3}).json())
    links = {link["relation"]: link["url"] for link in first["link"]}
    second = valid(api.get(links["next"]).json())

    assert first["total"] == second["total"] == 4
    assert [e["resource"]["name"][0]["family"] for e in first["entry"]] == ["Hale", "Hallam", "Ibarra"]
    assert [e["resource"]["name"][0]["family"] for e in second["entry"]] == ["Nodob"]
    assert "next" not in {link["relation"] for link in second["link"]}


# --- create ----------------------------------------------------------------------------------


def posted(clinic: Clinic, **changes: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "identifier": [{"system": system(clinic), "value": "RD-2001"}],
        "name": [{"use": "official", "family": "Okonkwo", "given": ["Chidi", "Emeka"]}],
        "gender": "male",
        "birthDate": "1980-02-29",
    }
    resource.update(changes)
    return {key: value for key, value in resource.items() if value is not None}


def post(api: APIClient, resource: Any, content_type: str = "application/fhir+json") -> Any:
    body = resource if isinstance(resource, str | bytes) else json.dumps(resource)
    return api.post("/fhir/Patient", body, content_type=content_type)


def test_a_posted_patient_is_stored_through_the_app_and_answered_as_created(api_as: Api, clinic: Clinic) -> None:
    response = post(api_as("clinician"), posted(clinic))

    assert response.status_code == 201
    patient = Patient.objects.get()
    assert (patient.clinic, patient.medical_record_number) == (clinic, "RD-2001")
    assert (patient.first_name, patient.last_name) == ("Chidi Emeka", "Okonkwo")
    assert (patient.sex, patient.date_of_birth) == ("male", dt.date(1980, 2, 29))
    resource = valid(response.json())
    assert resource["id"] == str(patient.uuid)
    version = resource["meta"]["versionId"]
    assert response["Location"] == f"http://testserver/fhir/Patient/{patient.uuid}/_history/{version}"
    assert response["ETag"] == f'W/"{version}"'


def test_a_bare_record_number_belongs_to_the_callers_only_clinic(api_as: Api, clinic: Clinic) -> None:
    response = post(api_as("clinician"), posted(clinic, identifier=[{"value": "RD-2002"}]), "application/json")

    assert response.status_code == 201
    assert Patient.objects.get().clinic == clinic


def test_a_member_of_two_clinics_must_name_the_clinic(api_as: Api, clinic: Clinic, clinician: Any) -> None:
    MembershipFactory(user=clinician, clinic__name="Second", role=Membership.Role.CLINICIAN)

    response = post(api_as("clinician"), posted(clinic, identifier=[{"value": "RD-2002"}]))

    assert response.status_code == 422
    assert "system of one of your clinics" in response.json()["issue"][0]["diagnostics"]
    assert not Patient.objects.exists()


INVALID = {
    "not a Patient": ({"resourceType": "Observation", "status": "final"}, 400, "resourceType"),
    "an unknown element": ({"resourceType": "Patient", "colour": "blue"}, 400, "colour"),
    "a malformed birth date": ({"birthDate": "29/02/1980"}, 400, "birthDate"),
    "name not a list": ({"name": {"family": "Okonkwo"}}, 400, "name"),
    "an empty family name": ({"name": [{"family": "", "given": ["A"]}]}, 400, "name"),
    "a gender FHIR does not know": ({"gender": "f"}, 422, "gender"),
    "a partial birth date": ({"birthDate": "1980-02"}, 422, "birthDate"),
    "no name": ({"name": []}, 422, "name"),
    "no family name": ({"name": [{"given": ["Chidi"]}]}, 422, "last_name"),
    "a name longer than the record allows": ({"name": [{"family": "x" * 101, "given": ["A"]}]}, 422, "last_name"),
    "no record number": ({"identifier": []}, 422, "identifier"),
}


@pytest.mark.parametrize("case", INVALID)
def test_an_invalid_patient_gets_an_operation_outcome_and_stores_nothing(
    api_as: Api, clinic: Clinic, case: str
) -> None:
    changes, status, mentioned = INVALID[case]
    resource = changes if changes.get("resourceType") else posted(clinic, **changes)

    response = post(api_as("clinician"), resource)

    assert response.status_code == status
    outcome = valid(response.json())
    assert outcome["resourceType"] == "OperationOutcome"
    assert mentioned in " ".join(issue["diagnostics"] for issue in outcome["issue"])
    assert not Patient.objects.exists()


def test_a_record_number_taken_in_the_clinic_is_refused_like_in_the_form(
    api_as: Api, clinic: Clinic, patients: dict[str, Patient]
) -> None:
    response = post(api_as("clinician"), posted(clinic, identifier=[{"system": system(clinic), "value": "RD-1001"}]))

    assert response.status_code == 422
    assert response.json()["issue"][0]["diagnostics"] == f"medical_record_number: {Patient.MRN_TAKEN}"
    assert Patient.objects.count() == len(patients)


def test_a_patient_cannot_be_posted_into_another_clinic(api_as: Api, clinic: Clinic, other_clinic: Clinic) -> None:
    response = post(api_as("clinician"), posted(other_clinic))

    assert response.status_code == 422
    assert not Patient.objects.exists()


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ("{not json", "application/fhir+json", 400),
        ("<Patient/>", "application/fhir+xml", 415),
        ("[]", "application/json", 400),
    ],
)
def test_a_body_that_is_no_fhir_json_is_refused(
    api_as: Api, clinic: Clinic, body: str, content_type: str, status: int
) -> None:
    response = post(api_as("clinician"), body, content_type)

    assert response.status_code == status
    assert valid(response.json())["resourceType"] == "OperationOutcome"
    assert not Patient.objects.exists()


def test_anonymous_cannot_post_a_patient(api_as: Api, clinic: Clinic) -> None:
    response = post(api_as("anonymous"), posted(clinic))

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Token")
    assert not Patient.objects.exists()


def test_a_null_given_name_adds_no_word_and_a_name_of_nulls_only_is_refused(api_as: Api, clinic: Clinic) -> None:
    nulls_only = post(
        api_as("clinician"), posted(clinic, name=[{"use": "official", "family": "Okonkwo", "given": [None]}])
    )
    assert nulls_only.status_code == 422
    assert "first_name" in " ".join(issue["diagnostics"] for issue in valid(nulls_only.json())["issue"])

    response = post(api_as("clinician"), posted(clinic, name=[{"family": "Okonkwo", "given": [None, "Chidi"]}]))

    assert response.status_code == 201
    assert Patient.objects.get().first_name == "Chidi"
