"""Integrations on the FHIR API: a Bearer client (OAuth 2.0 client credentials) reads, searches and
creates within its SMART scopes and its clinic; another clinic's records answer 404, an interaction
outside the token's scopes 403, a bad or expired token 401 with a Bearer challenge."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.conf import settings
from django.utils import timezone
from oauth2_provider.models import AccessToken
from rest_framework.test import APIClient

from clinic.models import Clinic
from integrations.models import IntegrationClient
from lesions.models import Patient
from tests.helpers import bearer_client, client_token, integration_client
from tests.interop.conftest import Records
from tests.interop.fhir.validation import valid


def record_number_system(clinic: Clinic) -> str:
    return f"{settings.FHIR_IDENTIFIER_SYSTEM_BASE}/{clinic.uuid}/mrn"


def new_patient(clinic: Clinic, number: str = "RD-3001") -> str:
    return json.dumps(
        {
            "resourceType": "Patient",
            "identifier": [{"system": record_number_system(clinic), "value": number}],
            "name": [{"family": "Adeyemi", "given": ["Tola"]}],
            "gender": "female",
            "birthDate": "1975-06-01",
        }
    )


def outcome(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/fhir+json; charset=utf-8"
    body = valid(response.json())
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == code
    return body


def test_a_client_reads_searches_and_creates_within_its_scopes(records: Records, clinic: Clinic) -> None:
    api = bearer_client(clinic, "system/Patient.crs")

    read = api.get(f"/fhir/Patient/{records.patient.uuid}")
    found = api.get("/fhir/Patient", {"identifier": "RD-1001"})
    created = api.post("/fhir/Patient", new_patient(clinic), content_type="application/fhir+json")

    assert read.status_code == 200
    assert valid(read.json())["id"] == str(records.patient.uuid)
    assert found.status_code == 200
    assert [e["resource"]["id"] for e in valid(found.json())["entry"]] == [str(records.patient.uuid)]
    assert created.status_code == 201, created.content
    patient = Patient.objects.get(medical_record_number="RD-3001")
    assert patient.clinic == clinic
    assert valid(created.json())["id"] == str(patient.uuid)


def test_a_client_of_one_clinic_gets_404_for_another_clinics_records(records: Records, other_clinic: Clinic) -> None:
    api = bearer_client(other_clinic, "system/*.rs")

    read = api.get(f"/fhir/Patient/{records.patient.uuid}")
    observation = api.get(f"/fhir/Observation/{records.prediction(records.mole_later).uuid}")
    everything = api.get(f"/fhir/Patient/{records.patient.uuid}/$everything")
    found = api.get("/fhir/Patient", {"identifier": "RD-1001"})

    outcome(read, 404, "not-found")
    outcome(observation, 404, "not-found")
    outcome(everything, 404, "not-found")
    assert found.status_code == 200
    assert valid(found.json())["total"] == 0


def test_a_read_only_client_cannot_create_a_patient(clinic: Clinic) -> None:
    api = bearer_client(clinic, "system/Patient.rs")

    response = api.post("/fhir/Patient", new_patient(clinic), content_type="application/fhir+json")

    body = outcome(response, 403, "forbidden")
    assert "system/Patient.c" in body["issue"][0]["diagnostics"]
    assert not Patient.objects.exists()


@pytest.mark.parametrize(
    ("path", "needs"),
    [
        (lambda r: f"Observation/{r.prediction(r.mole_later).uuid}", "system/Observation.r"),
        (lambda r: f"DiagnosticReport/{r.later.uuid}", "system/DiagnosticReport.r"),
        (lambda r: f"Media/{r.mole_later.uuid}", "system/Media.r"),
        (lambda r: f"BodyStructure/{r.mole.uuid}", "system/BodyStructure.r"),
        (lambda r: f"Patient/{r.patient.uuid}/$everything", "system/Observation.r"),
    ],
)
def test_a_patient_client_reads_nothing_else(records: Records, clinic: Clinic, path: Any, needs: str) -> None:
    api = bearer_client(clinic, "system/Patient.rs")

    response = api.get(f"/fhir/{path(records)}")

    assert needs in outcome(response, 403, "forbidden")["issue"][0]["diagnostics"]


def test_search_needs_the_search_permission(records: Records, clinic: Clinic) -> None:
    api = bearer_client(clinic, "system/Patient.r")

    outcome(api.get("/fhir/Patient", {"identifier": "RD-1001"}), 403, "forbidden")
    assert api.get(f"/fhir/Patient/{records.patient.uuid}").status_code == 200


def test_a_wildcard_client_reads_everything_of_its_clinic(records: Records, clinic: Clinic) -> None:
    api = bearer_client(clinic, "system/*.rs")

    everything = api.get(f"/fhir/Patient/{records.patient.uuid}/$everything")
    report = api.get(f"/fhir/DiagnosticReport/{records.later.uuid}")

    assert everything.status_code == 200
    types = {entry["resource"]["resourceType"] for entry in valid(everything.json())["entry"]}
    assert {"Patient", "Observation", "DiagnosticReport"} <= types
    assert report.status_code == 200
    assert valid(report.json())["resourceType"] == "DiagnosticReport"


def test_a_token_for_fewer_scopes_than_granted_allows_only_those(records: Records, clinic: Clinic) -> None:
    client, secret = integration_client(clinic, "system/*.rs")
    answer = client_token(client.client_id, secret, scope="system/Patient.rs")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {answer.json()['access_token']}")

    assert answer.json()["scope"] == "system/Patient.rs"
    assert api.get(f"/fhir/Patient/{records.patient.uuid}").status_code == 200
    outcome(api.get(f"/fhir/DiagnosticReport/{records.later.uuid}"), 403, "forbidden")


def test_reads_by_a_client_are_audited_as_its_service_user(records: Records, clinic: Clinic) -> None:
    api = bearer_client(clinic, "system/Patient.rs")
    client = IntegrationClient.objects.get()

    assert api.get(f"/fhir/Patient/{records.patient.uuid}").status_code == 200

    entry = LogEntry.objects.filter(action=LogEntry.Action.ACCESS, object_pk=str(records.patient.pk)).latest("pk")
    assert entry.actor == client.service_user
    client.refresh_from_db()
    assert client.last_used_at is not None


@pytest.mark.parametrize("token", ["not-a-token", "", "x" * 300])
def test_an_unknown_bearer_token_is_a_401_with_a_bearer_challenge(records: Records, token: str) -> None:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}".strip())

    response = api.get(f"/fhir/Patient/{records.patient.uuid}")

    outcome(response, 401, "login")
    assert response["WWW-Authenticate"].startswith('Bearer realm="DermaTrack FHIR"')
    if token:
        assert 'error="invalid_token"' in response["WWW-Authenticate"]


def test_a_token_in_the_query_string_is_not_accepted(records: Records, clinic: Clinic) -> None:
    client, secret = integration_client(clinic, "system/Patient.rs")
    token = client_token(client.client_id, secret).json()["access_token"]

    response = APIClient().get(f"/fhir/Patient/{records.patient.uuid}", {"access_token": token})

    outcome(response, 401, "login")


def test_an_expired_token_is_a_401(records: Records, clinic: Clinic) -> None:
    api = bearer_client(clinic, "system/Patient.rs")
    AccessToken.objects.update(expires=timezone.now() - dt.timedelta(seconds=1))

    response = api.get(f"/fhir/Patient/{records.patient.uuid}")

    outcome(response, 401, "login")
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


def test_a_request_without_credentials_is_challenged_for_both_schemes(records: Records) -> None:
    response = APIClient().get(f"/fhir/Patient/{records.patient.uuid}")

    outcome(response, 401, "login")
    assert response["WWW-Authenticate"].startswith("Token")
    assert 'Bearer realm="DermaTrack FHIR"' in response["WWW-Authenticate"]


def test_the_users_token_scheme_keeps_working_beside_bearer(api_as: Any, records: Records) -> None:
    response = api_as("clinician").get(f"/fhir/Observation/{records.prediction(records.mole_later).uuid}")

    assert response.status_code == 200


def test_the_capability_statement_describes_the_login(db: None) -> None:
    body = valid(APIClient().get("/fhir/metadata").json())

    security = body["rest"][0]["security"]
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    (uris,) = [e for e in security["extension"] if e["url"].endswith("/oauth-uris")]
    assert uris["extension"] == [{"url": "token", "valueUri": "http://testserver/oauth/token/"}]


@pytest.mark.parametrize("path", ["/.well-known/smart-configuration", "/fhir/.well-known/smart-configuration"])
def test_the_smart_configuration_describes_client_credentials(db: None, path: str) -> None:
    response = APIClient().get(path)

    assert response.status_code == 200
    body = response.json()
    assert body["token_endpoint"] == "http://testserver/oauth/token/"
    assert body["grant_types_supported"] == ["client_credentials"]
    assert body["token_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post"]
    assert {"system/Patient.rs", "system/*.rs", "system/Observation.rs"} <= set(body["scopes_supported"])
    assert "permission-v2" in body["capabilities"]


def test_a_media_reader_fetches_the_photo_and_a_report_reader_the_pdf(records: Records, clinic: Clinic) -> None:
    api = bearer_client(clinic, "system/Media.r system/DiagnosticReport.r")
    media = api.get(f"/fhir/Media/{records.mole_later.uuid}").json()
    report = api.get(f"/fhir/DiagnosticReport/{records.later.uuid}").json()

    photo = api.get(media["content"]["url"])
    pdf = api.get(report["presentedForm"][0]["url"])

    assert photo.status_code == 200
    assert photo["Content-Type"] == media["content"]["contentType"]
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"


def test_a_client_gets_nothing_else_of_the_rest_api(records: Records, clinic: Clinic) -> None:
    api = bearer_client(clinic, "system/*.rs")
    patient_only = bearer_client(clinic, "system/Patient.rs")
    media = api.get(f"/fhir/Media/{records.mole_later.uuid}").json()

    assert patient_only.get(media["content"]["url"]).status_code == 403
    assert api.get(f"/api/v1/images/{records.mole_later.uuid}/").status_code == 403
    assert api.get(f"/api/v1/images/{records.mole_later.uuid}/mask/").status_code == 403
    assert api.get(f"/api/v1/patients/{records.patient.uuid}/").status_code == 401  # Bearer is not the API's scheme
    assert api.get("/api/v1/patients/").status_code == 401


def test_another_clinics_client_gets_404_for_the_photo(records: Records, other_clinic: Clinic) -> None:
    api = bearer_client(other_clinic, "system/*.rs")

    assert api.get(f"/api/v1/images/{records.mole_later.uuid}/file/").status_code == 404
    assert api.get(f"/api/v1/visits/{records.later.uuid}/report/").status_code == 404
