"""No input makes /fhir/ answer a 500 or a page of HTML: numbers in other scripts, searches too large
for one SQL expression, bodies nested thousands deep or over the size limit, a NUL in the query and
an uncaught exception all come back as an OperationOutcome (application/fhir+json), nothing stored."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from clinic.parsers import MAX_JSON_DEPTH
from interop.fhir import resources, search
from lesions.models import Patient
from tests.interop.fhir.validation import valid

Api = Callable[[str], APIClient]

DEEP_JSON = "[" * 3000 + "]" * 3000


def outcome_of(response: Any, status: int) -> dict[str, Any]:
    """The response's OperationOutcome, after checking its status and that it is FHIR JSON."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/fhir+json; charset=utf-8", response.content[:200]
    body = valid(json.loads(response.content))
    assert body["resourceType"] == "OperationOutcome"
    return body


def diagnostics(body: dict[str, Any]) -> str:
    return " ".join(issue["diagnostics"] for issue in body["issue"])


def unraised(api: APIClient) -> APIClient:
    """The client answering like a server for an uncaught exception (a 500), not raising it in the test."""
    api.raise_request_exception = False
    return api


# --- numbers -------------------------------------------------------------------------------------


# "²" and "١" pass str.isdigit() (int("²") then fails); full-width and Arabic-Indic digits are
# digits to int() but not the 0-9 a FHIR number is written in; 5,000 digits are past int()'s limit.
NOT_A_NUMBER = ["\u00b2", "\u0661", "\uff15", "1\u00b2", "-1", "+2", " 2", "2.0"]


@pytest.mark.parametrize("name", ["_count", "page"])
@pytest.mark.parametrize("value", NOT_A_NUMBER)
def test_a_count_or_page_not_in_ascii_digits_is_a_400_outcome(
    api_as: Api, patient: Patient, name: str, value: str
) -> None:
    response = unraised(api_as("clinician")).get("/fhir/Patient", {name: value})

    body = outcome_of(response, 400)
    assert body["issue"][0]["code"] == "invalid"
    assert name in diagnostics(body) and "0-9" in diagnostics(body)


def test_page_zero_is_a_400_outcome_while_count_zero_asks_for_the_total_only(api_as: Api, patient: Patient) -> None:
    api = unraised(api_as("clinician"))

    assert "page" in diagnostics(outcome_of(api.get("/fhir/Patient", {"page": "0"}), 400))
    bundle = valid(api.get("/fhir/Patient", {"_count": "0"}).json())
    assert bundle["total"] == 1 and "entry" not in bundle


@pytest.mark.parametrize("name", ["_count", "page"])
def test_everything_refuses_a_superscript_number_too(api_as: Api, patient: Patient, name: str) -> None:
    response = unraised(api_as("clinician")).get(f"/fhir/Patient/{patient.uuid}/$everything", {name: "\u00b2"})

    assert name in diagnostics(outcome_of(response, 400))


def test_a_count_of_thousands_of_digits_is_capped_and_such_a_page_out_of_range(api_as: Api, patient: Patient) -> None:
    api = unraised(api_as("clinician"))
    huge = "9" * 5000

    bundle = valid(api.get("/fhir/Patient", {"_count": huge}).json())
    out_of_range = api.get("/fhir/Patient", {"page": huge})

    assert bundle["total"] == 1 and f"_count={search.MAX_COUNT}" in bundle["link"][0]["url"]
    assert "out of range" in diagnostics(outcome_of(out_of_range, 400))


def test_leading_zeros_are_still_a_number(api_as: Api, patient: Patient) -> None:
    bundle = valid(api_as("clinician").get("/fhir/Patient", {"_count": "007", "page": "01"}).json())

    assert bundle["total"] == 1 and "_count=7" in bundle["link"][0]["url"]


# --- searches too large --------------------------------------------------------------------------


def test_a_family_search_of_994_values_is_a_400_outcome_naming_the_limit(api_as: Api, patient: Patient) -> None:
    response = unraised(api_as("clinician")).get("/fhir/Patient", {"family": ",".join(["Ha"] * 994)})

    body = outcome_of(response, 400)
    assert body["issue"][0]["code"] == "too-costly"
    assert f"at most {search.MAX_VALUES}" in diagnostics(body) and "family" in diagnostics(body)


def test_as_many_values_as_the_limit_are_searched(api_as: Api, patient: Patient) -> None:
    values = [f"Zz{i}" for i in range(search.MAX_VALUES - 1)] + ["Hale"]

    bundle = valid(api_as("clinician").get("/fhir/Patient", {"family": ",".join(values)}).json())

    assert bundle["total"] == 1


def test_more_parameters_than_the_limit_are_a_400_outcome_naming_it(api_as: Api, patient: Patient) -> None:
    query = "&".join(["family=H"] * (search.MAX_PARAMETERS + 1))

    response = unraised(api_as("clinician")).get(f"/fhir/Patient?{query}")

    body = outcome_of(response, 400)
    assert body["issue"][0]["code"] == "too-costly" and f"at most {search.MAX_PARAMETERS}" in diagnostics(body)


def test_everything_counts_its_parameters_too(api_as: Api, patient: Patient) -> None:
    query = "&".join(["_count=5"] * (search.MAX_PARAMETERS + 1))

    response = unraised(api_as("clinician")).get(f"/fhir/Patient/{patient.uuid}/$everything?{query}")

    assert f"at most {search.MAX_PARAMETERS}" in diagnostics(outcome_of(response, 400))


# --- bodies --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("caller", "status"), [("anonymous", 401), ("clinician", 400)])
@pytest.mark.parametrize("content_type", ["application/fhir+json", "application/json"])
def test_a_body_nested_3000_levels_deep_is_refused_with_an_outcome(
    api_as: Api, clinic: Any, caller: str, status: int, content_type: str
) -> None:
    response = unraised(api_as(caller)).post("/fhir/Patient", DEEP_JSON, content_type=content_type)

    body = outcome_of(response, status)
    if caller == "clinician":
        assert f"more than {MAX_JSON_DEPTH} levels" in diagnostics(body)
    assert not Patient.objects.exists()


def test_a_body_just_past_the_depth_limit_is_refused_as_well(api_as: Api, clinic: Any) -> None:
    nested: Any = "x"
    for _ in range(MAX_JSON_DEPTH):
        nested = {"url": "http://example.org/x", "extension": [nested]}  # two levels a step
    patient = {"resourceType": "Patient", "extension": [nested]}

    response = unraised(api_as("clinician")).post("/fhir/Patient", patient, format="json")

    assert f"more than {MAX_JSON_DEPTH} levels" in diagnostics(outcome_of(response, 400))
    assert not Patient.objects.exists()


def test_a_body_over_the_upload_limit_is_a_413_outcome(api_as: Api, clinic: Any, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2000
    patient = {"resourceType": "Patient", "name": [{"family": "H" * 3000}]}

    response = unraised(api_as("clinician")).post("/fhir/Patient", patient, format="json")

    body = outcome_of(response, 413)
    assert body["issue"][0]["code"] == "too-long" and "2000 bytes" in diagnostics(body)
    assert not Patient.objects.exists()


# --- errors answered outside the FHIR views ------------------------------------------------------


def test_a_nul_in_the_query_is_a_400_outcome_with_its_reason(api_as: Api, patient: Patient) -> None:
    response = unraised(api_as("clinician")).get("/fhir/Patient?family=Ha%00le")

    assert "NUL" in diagnostics(outcome_of(response, 400))


def test_a_nul_in_the_query_of_a_public_endpoint_is_an_outcome_too(api_as: Api, db: None) -> None:
    response = unraised(api_as("anonymous")).get("/fhir/metadata?_format=%00")

    assert "NUL" in diagnostics(outcome_of(response, 400))


def test_more_query_fields_than_django_reads_is_a_400_outcome(api_as: Api, patient: Patient, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    query = "&".join(f"x{i}=1" for i in range(11))

    response = unraised(api_as("clinician")).get(f"/fhir/Patient?{query}")

    assert outcome_of(response, 400)["issue"][0]["code"] == "invalid"


def test_an_uncaught_exception_is_a_500_outcome_and_is_logged(
    api_as: Api, patient: Patient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any) -> dict[str, Any]:
        raise RuntimeError("a bug in the resource mapping")

    monkeypatch.setattr(resources, "patient_resource", broken)

    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = unraised(api_as("clinician")).get(f"/fhir/Patient/{patient.uuid}")

    body = outcome_of(response, 500)
    assert body["issue"][0]["code"] == "exception"
    assert "a bug in the resource mapping" not in response.content.decode()  # no internals shown
    assert any(
        record.exc_info and "a bug in the resource mapping" in str(record.exc_info[1]) for record in caplog.records
    )


def test_errors_outside_fhir_keep_their_own_format(clinician_client: Any, db: None) -> None:
    response = clinician_client.get("/patients/?q=Ha%00le")

    assert response.status_code == 400 and response["Content-Type"].startswith("text/plain")
