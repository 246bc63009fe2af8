"""Versions (meta.versionId, ETag, Last-Modified, conditional and version reads) and content
negotiation (406 for XML and other FHIR versions), and the LOINC code of a visit's report."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from interop.fhir import codes
from lesions.models import Patient
from tests.interop.conftest import Records
from tests.interop.fhir.validation import valid

Api = Callable[[str], APIClient]

PATHS: dict[str, Callable[[Records], str]] = {
    "Patient": lambda r: f"Patient/{r.patient.uuid}",
    "BodyStructure": lambda r: f"BodyStructure/{r.mole.uuid}",
    "Media": lambda r: f"Media/{r.mole_later.uuid}",
    "Observation": lambda r: f"Observation/{r.prediction(r.mole_later).uuid}",
    "DiagnosticReport": lambda r: f"DiagnosticReport/{r.later.uuid}",
    "Device": lambda r: f"Device/{codes.device_id(r.model)}",
    "CodeSystem": lambda r: "CodeSystem/ham10000-class",
}


@pytest.mark.parametrize("resource_type", PATHS)
def test_every_read_carries_its_version(api_as: Api, records: Records, resource_type: str) -> None:
    response = api_as("clinician").get(f"/fhir/{PATHS[resource_type](records)}")

    resource = valid(response.json())
    version = resource["meta"]["versionId"]
    assert response["ETag"] == f'W/"{version}"'
    if resource_type != "CodeSystem":  # the code systems are the software's, not records
        assert resource["meta"]["lastUpdated"] and response["Last-Modified"].endswith(" GMT")


@pytest.mark.parametrize("resource_type", PATHS)
def test_a_conditional_read_of_the_current_version_is_a_304(api_as: Api, records: Records, resource_type: str) -> None:
    api = api_as("clinician")
    url = f"/fhir/{PATHS[resource_type](records)}"
    etag = api.get(url)["ETag"]

    assert api.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
    assert api.get(url, HTTP_IF_NONE_MATCH='W/"0000"').status_code == 200


def test_if_modified_since(api_as: Api, records: Records) -> None:
    api = api_as("clinician")
    url = f"/fhir/Patient/{records.patient.uuid}"
    last_modified = api.get(url)["Last-Modified"]

    assert api.get(url, HTTP_IF_MODIFIED_SINCE=last_modified).status_code == 304
    assert api.get(url, HTTP_IF_MODIFIED_SINCE="Mon, 01 Jan 2001 00:00:00 GMT").status_code == 200
    assert api.get(url, HTTP_IF_MODIFIED_SINCE="not a date").status_code == 200


def test_the_version_changes_with_the_record_and_only_the_current_one_is_read(api_as: Api, records: Records) -> None:
    api = api_as("clinician")
    url = f"/fhir/Patient/{records.patient.uuid}"
    before = valid(api.get(url).json())["meta"]["versionId"]
    assert valid(api.get(url).json())["meta"]["versionId"] == before  # reading changes nothing

    Patient.objects.filter(pk=records.patient.pk).update(first_name="Meg")
    after = valid(api.get(url).json())["meta"]["versionId"]

    assert after != before
    assert valid(api.get(f"{url}/_history/{after}").json())["name"][0]["given"] == ["Meg"]
    old = api.get(f"{url}/_history/{before}")
    assert old.status_code == 404 and valid(old.json())["resourceType"] == "OperationOutcome"


def test_a_report_changes_version_when_an_analysis_of_its_visit_changes(api_as: Api, records: Records) -> None:
    api = api_as("clinician")
    url = f"/fhir/DiagnosticReport/{records.later.uuid}"
    before = api.get(url)["ETag"]

    records.prediction(records.back_later).delete()

    assert api.get(url)["ETag"] != before


def test_a_version_read_of_another_clinics_record_is_a_404(api_as: Api, records: Records) -> None:
    version = api_as("clinician").get(f"/fhir/Patient/{records.patient.uuid}")["ETag"][3:-1]

    assert api_as("outsider").get(f"/fhir/Patient/{records.patient.uuid}/_history/{version}").status_code == 404


def test_bundle_entries_carry_versions_too(api_as: Api, records: Records) -> None:
    bundle = valid(api_as("clinician").get(f"/fhir/Patient/{records.patient.uuid}/$everything?_count=100").json())

    assert all(entry["resource"]["meta"]["versionId"] for entry in bundle["entry"])


def test_the_report_code_is_loinc_with_the_local_code_beside_it(api_as: Api, records: Records) -> None:
    report = valid(api_as("clinician").get(f"/fhir/DiagnosticReport/{records.later.uuid}").json())

    assert [(c["system"], c["code"]) for c in report["code"]["coding"]] == [
        ("http://loinc.org", "72170-4"),
        (codes.ANALYSIS.url, codes.VISIT_REPORT),
    ]


# --- negotiation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_ACCEPT": "application/fhir+xml"},
        {"HTTP_ACCEPT": "application/xml, text/xml;q=0.9"},
        {"HTTP_ACCEPT": "application/fhir+json; fhirVersion=3.0"},
        {"HTTP_ACCEPT": "application/fhir+json;fhirVersion=5.0, application/json;q=0"},
    ],
)
def test_an_accept_header_naming_no_served_format_is_a_406(api_as: Api, records: Records, headers: Any) -> None:
    response = api_as("clinician").get(f"/fhir/Patient/{records.patient.uuid}", **headers)

    assert response.status_code == 406
    assert response["Content-Type"] == "application/fhir+json; charset=utf-8"
    assert valid(response.json())["issue"][0]["code"] == "not-supported"


@pytest.mark.parametrize("fmt", ["xml", "application/fhir+xml", "text/turtle", "application/fhir+json;fhirVersion=4.3"])
def test_a_format_parameter_naming_no_served_format_is_a_406(api_as: Api, records: Records, fmt: str) -> None:
    for path in (f"Patient/{records.patient.uuid}", "Patient", "metadata"):
        response = api_as("clinician").get(f"/fhir/{path}", {"_format": fmt})
        assert response.status_code == 406, path
        assert valid(response.json())["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize(
    "accept",
    [
        "application/fhir+json",
        "application/fhir+json; fhirVersion=4.0",
        "application/json",
        "*/*",
        "application/fhir+xml;q=0.9, application/fhir+json",
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    ],
)
def test_an_accept_header_that_takes_fhir_json_is_answered(api_as: Api, records: Records, accept: str) -> None:
    response = api_as("clinician").get(f"/fhir/Patient/{records.patient.uuid}", HTTP_ACCEPT=accept)

    assert response.status_code == 200 and valid(response.json())["resourceType"] == "Patient"


@pytest.mark.parametrize("fmt", ["json", "application/json", "application/fhir+json", "application/fhir json"])
def test_json_formats_are_answered(api_as: Api, records: Records, fmt: str) -> None:
    response = api_as("clinician").get(f"/fhir/Patient/{records.patient.uuid}", {"_format": fmt})

    assert response.status_code == 200


def test_a_body_of_another_fhir_version_is_a_415(api_as: Api, db: None) -> None:
    body = '{"resourceType": "Patient"}'
    api = api_as("clinician")

    refused = api.post("/fhir/Patient", body, content_type="application/fhir+json; fhirVersion=5.0")
    read = api.post("/fhir/Patient", body, content_type="application/fhir+json; fhirVersion=4.0")

    assert refused.status_code == 415 and valid(refused.json())["resourceType"] == "OperationOutcome"
    assert read.status_code == 422  # read, then refused for its content (no record number)


def test_pretty_indents(api_as: Api, records: Records) -> None:
    api = api_as("clinician")

    assert b'\n  "resourceType"' in api.get(f"/fhir/Patient/{records.patient.uuid}?_pretty=true").content
    assert b"\n" not in api.get(f"/fhir/Patient/{records.patient.uuid}?_pretty=false").content


def test_the_capability_statement_lists_what_works(api_as: Api, db: None) -> None:
    statement = valid(api_as("anonymous").get("/fhir/metadata").json())

    patient = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Patient")
    assert {i["code"] for i in patient["interaction"]} == {"read", "vread", "search-type", "create"}
    assert patient["conditionalCreate"] is True and patient["versioning"] == "versioned"
    assert patient["conditionalRead"] == "full-support"
    assert {p["name"] for p in patient["searchParam"]} == {"identifier", "family", "birthdate", "_id"}
    for name in ("_summary", "_elements", "_total", "_sort", "handling=strict"):
        assert name in patient["documentation"]
