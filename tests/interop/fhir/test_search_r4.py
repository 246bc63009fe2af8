"""FHIR search per R4 http.html#search: lenient by default, strict on request, the result parameters,
searches by POST and $everything's parameters."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from clinic.models import Clinic
from interop.fhir import codes
from lesions.models import Patient
from tests.factories import PatientFactory
from tests.interop.conftest import EARLIER, LATER, Records
from tests.interop.fhir.validation import valid

Api = Callable[[str], APIClient]
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def patients(clinic: Clinic, other_clinic: Clinic) -> dict[str, Patient]:
    return {
        "hale": PatientFactory(
            clinic=clinic, first_name="Margaret", last_name="Hale", date_of_birth=dt.date(1952, 3, 14)
        ),
        "hallam": PatientFactory(
            clinic=clinic, first_name="Arthur", last_name="Hallam", date_of_birth=dt.date(1968, 1, 2)
        ),
        "ibarra": PatientFactory(
            clinic=clinic, first_name="Lucia", last_name="Ibarra", date_of_birth=dt.date(1971, 6, 1)
        ),
        "outside": PatientFactory(clinic=other_clinic, last_name="Hale"),
    }


def bundle_of(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.content
    return valid(response.json())


def families(bundle: dict[str, Any]) -> list[str]:
    return [e["resource"]["name"][0]["family"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def warnings_of(bundle: dict[str, Any]) -> list[str]:
    outcomes = [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "outcome"]
    assert all(o["resourceType"] == "OperationOutcome" for o in outcomes)
    return [issue["diagnostics"] for o in outcomes for issue in o["issue"] if issue["severity"] == "warning"]


@pytest.mark.parametrize(
    "query",
    [
        "colour=blue",
        "_include=Patient:organization",
        "_sort=birthdate",
        "_summary=text",
        "_total=exact",
        "_totalMethod=count",
    ],
)
def test_an_unknown_parameter_is_ignored_and_named_in_a_warning(
    api_as: Api, patients: dict[str, Patient], query: str
) -> None:
    bundle = bundle_of(api_as("clinician").get(f"/fhir/Patient?family=Ha&{query}"))

    assert families(bundle) == ["Hale", "Hallam"]
    assert bundle["total"] == 2
    name = query.split("=")[0]
    assert any(name in warning for warning in warnings_of(bundle)), warnings_of(bundle)


@pytest.mark.parametrize("query", ["colour=blue", "_include=Patient:organization", "_sort=birthdate"])
def test_under_strict_handling_an_unknown_parameter_is_a_400(
    api_as: Api, patients: dict[str, Patient], query: str
) -> None:
    response = api_as("clinician").get(f"/fhir/Patient?{query}", HTTP_PREFER="handling=strict")

    assert response.status_code == 400
    outcome = valid(response.json())
    assert outcome["resourceType"] == "OperationOutcome" and query.split("=")[0] in outcome["issue"][0]["diagnostics"]


def test_a_known_search_has_no_warning(api_as: Api, patients: dict[str, Patient]) -> None:
    bundle = bundle_of(api_as("clinician").get("/fhir/Patient?family=Ha&_pretty=true&_format=json"))

    assert warnings_of(bundle) == [] and families(bundle) == ["Hale", "Hallam"]


@pytest.mark.parametrize("query", ["_count=0", "_summary=count", "_summary=count&_count=5"])
def test_count_zero_and_summary_count_answer_the_total_only(
    api_as: Api, patients: dict[str, Patient], query: str
) -> None:
    bundle = bundle_of(api_as("clinician").get(f"/fhir/Patient?family=Ha&{query}"))

    assert bundle["total"] == 2 and "entry" not in bundle


def test_total_none_leaves_the_total_out(api_as: Api, patients: dict[str, Patient]) -> None:
    api = api_as("clinician")

    assert "total" not in bundle_of(api.get("/fhir/Patient?_total=none"))
    assert bundle_of(api.get("/fhir/Patient?_total=accurate"))["total"] == 3
    assert bundle_of(api.get("/fhir/Patient?_total=estimate"))["total"] == 3


def test_summary_true_keeps_the_summary_elements_and_tags_the_subset(api_as: Api, records: Records) -> None:
    api = api_as("clinician")
    prediction = records.prediction(records.mole_later)

    observation = valid(api.get(f"/fhir/Observation/{prediction.uuid}?_summary=true").json())
    patients = bundle_of(api.get("/fhir/Patient?_summary=true"))

    assert {"status", "code", "subject", "valueCodeableConcept", "component"} <= set(observation)
    assert "note" not in observation and "bodySite" not in observation and "method" not in observation
    assert observation["meta"]["tag"][0]["code"] == "SUBSETTED" and observation["meta"]["versionId"]
    # every element the app sends of a Patient is a summary element: nothing left out, no tag
    patient = patients["entry"][0]["resource"]
    assert {"identifier", "name", "gender"} <= set(patient) and "tag" not in patient["meta"]


def test_elements_keeps_the_ones_asked_for(api_as: Api, patients: dict[str, Patient]) -> None:
    bundle = bundle_of(api_as("clinician").get("/fhir/Patient?family=Hale&_elements=birthDate,gender"))

    resource = bundle["entry"][0]["resource"]
    assert set(resource) == {"resourceType", "id", "meta", "birthDate", "gender"}
    assert resource["meta"]["tag"][0]["code"] == "SUBSETTED"


def test_elements_of_a_read_and_of_a_choice_element(api_as: Api, records: Records) -> None:
    api = api_as("clinician")
    prediction = records.prediction(records.mole_later)

    observation = valid(api.get(f"/fhir/Observation/{prediction.uuid}?_elements=value").json())

    # status and code are mandatory: kept so that the subset is still a valid Observation
    assert set(observation) == {"resourceType", "id", "meta", "status", "code", "valueCodeableConcept"}


def test_sort_on_indexed_fields_in_either_direction(api_as: Api, patients: dict[str, Patient]) -> None:
    api = api_as("clinician")

    assert families(bundle_of(api.get("/fhir/Patient?_sort=-family"))) == ["Ibarra", "Hallam", "Hale"]
    assert families(bundle_of(api.get("/fhir/Patient?_sort=given"))) == ["Hallam", "Ibarra", "Hale"]
    assert families(bundle_of(api.get("/fhir/Patient?_sort=family"))) == ["Hale", "Hallam", "Ibarra"]


def test_a_search_by_post_reads_the_form_like_the_query(
    api_as: Api, patients: dict[str, Patient], clinic: Clinic
) -> None:
    api = api_as("clinician")

    bundle = bundle_of(api.post("/fhir/Patient/_search?_count=1", "family=Ha&_sort=-family", content_type=FORM))

    assert families(bundle) == ["Hallam"] and bundle["total"] == 2
    links = {link["relation"]: link["url"] for link in bundle["link"]}
    assert "/fhir/Patient?" in links["next"] and "family=Ha" in links["next"]
    assert families(bundle_of(api.get(links["next"]))) == ["Hale"]


def test_a_search_by_post_asking_for_xml_in_the_form_is_a_406(api_as: Api, patients: dict[str, Patient]) -> None:
    response = api_as("clinician").post("/fhir/Patient/_search", "family=Ha&_format=xml", content_type=FORM)

    assert response.status_code == 406 and valid(response.json())["issue"][0]["code"] == "not-supported"


def test_a_search_by_post_needs_a_form(api_as: Api, patients: dict[str, Patient]) -> None:
    response = api_as("clinician").post("/fhir/Patient/_search", {"family": "Ha"}, format="json")

    assert response.status_code == 415
    assert valid(response.json())["resourceType"] == "OperationOutcome"


def test_a_search_by_post_keeps_the_clinic_scope(api_as: Api, patients: dict[str, Patient]) -> None:
    bundle = bundle_of(api_as("outsider").post("/fhir/Patient/_search", "family=Hal", content_type=FORM))

    assert bundle["total"] == 1 and families(bundle) == ["Hale"]
    assert bundle["entry"][0]["resource"]["id"] == str(patients["outside"].uuid)


def test_the_parameter_caps_count_the_form_too(api_as: Api, patients: dict[str, Patient]) -> None:
    body = "&".join(["family=Ha"] * 21)

    response = api_as("clinician").post("/fhir/Patient/_search", body, content_type=FORM)

    assert response.status_code == 400 and valid(response.json())["issue"][0]["code"] == "too-costly"


# --- $everything -------------------------------------------------------------------------------


def types_of(bundle: dict[str, Any]) -> list[str]:
    return [e["resource"]["resourceType"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def everything(api: APIClient, records: Records, **params: Any) -> dict[str, Any]:
    return bundle_of(api.get(f"/fhir/Patient/{records.patient.uuid}/$everything", {"_count": 100, **params}))


def test_everything_by_type(api_as: Api, records: Records) -> None:
    bundle = everything(api_as("clinician"), records, _type="Media,DiagnosticReport")

    assert sorted(set(types_of(bundle))) == ["DiagnosticReport", "Media"]
    assert bundle["total"] == 3 + 2  # three photos, two visits


def test_everything_between_start_and_end_keeps_the_records_without_a_care_date(api_as: Api, records: Records) -> None:
    api = api_as("clinician")

    later_only = everything(api, records, start=LATER.isoformat())
    earlier_only = everything(api, records, end=EARLIER.strftime("%Y-%m"))

    assert types_of(later_only).count("Media") == 2 and types_of(earlier_only).count("Media") == 1
    assert types_of(later_only).count("DiagnosticReport") == 1
    for bundle in (later_only, earlier_only):
        assert {"Patient", "BodyStructure", "Device"} <= set(types_of(bundle))


def test_everything_since_an_instant(api_as: Api, records: Records) -> None:
    api = api_as("clinician")

    assert everything(api, records, _since="2000-01-01T00:00:00Z")["total"] == everything(api, records)["total"]
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    assert everything(api, records, _since=future)["total"] == 0


@pytest.mark.parametrize("query", ["_since=yesterday", "_since=2024-01-01T10:00:00", "start=2024-13", "end=ge2024"])
def test_everything_refuses_bad_dates(api_as: Api, records: Records, query: str) -> None:
    response = api_as("clinician").get(f"/fhir/Patient/{records.patient.uuid}/$everything?{query}")

    assert response.status_code == 400
    assert query.split("=")[0] in valid(response.json())["issue"][0]["diagnostics"]


def test_everything_by_post_as_a_form_or_parameters(api_as: Api, records: Records) -> None:
    api = api_as("clinician")
    url = f"/fhir/Patient/{records.patient.uuid}/$everything"

    by_form = bundle_of(api.post(url, "_type=Observation&_count=100", content_type=FORM))
    parameters = {"resourceType": "Parameters", "parameter": [{"name": "_type", "valueCode": "Observation"}]}
    by_parameters = bundle_of(api.post(url, parameters, format="json"))

    assert types_of(by_form) == types_of(by_parameters) == ["Observation"] * 3


def test_everything_by_post_refuses_a_body_that_is_no_parameters(api_as: Api, records: Records) -> None:
    response = api_as("clinician").post(
        f"/fhir/Patient/{records.patient.uuid}/$everything", {"resourceType": "Patient"}, format="json"
    )

    assert response.status_code == 400 and "Parameters" in valid(response.json())["issue"][0]["diagnostics"]


def test_everything_warns_of_a_type_it_does_not_serve(api_as: Api, records: Records) -> None:
    bundle = everything(api_as("clinician"), records, _type="Encounter,Patient")

    assert types_of(bundle) == ["Patient"] and any("Encounter" in w for w in warnings_of(bundle))


def test_everything_of_another_clinics_patient_by_post_is_a_404(api_as: Api, records: Records) -> None:
    response = api_as("outsider").post(f"/fhir/Patient/{records.patient.uuid}/$everything", "", content_type=FORM)

    assert response.status_code == 404


def test_search_by_another_systems_identifier(api_as: Api, patients: dict[str, Patient], clinic: Clinic) -> None:
    from interop.models import PatientIdentifier

    PatientIdentifier.objects.create(
        clinic=clinic, patient=patients["hallam"], system="urn:oid:1.2.36.146.595.217.0.1", value="12345"
    )
    api = api_as("clinician")

    assert families(bundle_of(api.get("/fhir/Patient?identifier=urn:oid:1.2.36.146.595.217.0.1|12345"))) == ["Hallam"]
    assert families(bundle_of(api.get("/fhir/Patient?identifier=12345"))) == ["Hallam"]
    assert families(bundle_of(api.get("/fhir/Patient?identifier=urn:oid:1.2.36.146.595.217.0.1|"))) == ["Hallam"]
    assert families(bundle_of(api.get("/fhir/Patient?identifier=urn:oid:9.9|12345"))) == []
    assert families(bundle_of(api_as("outsider").get("/fhir/Patient?identifier=12345"))) == []
    mrn = codes.identifier_system(clinic)
    resource = bundle_of(api.get("/fhir/Patient?identifier=12345"))["entry"][0]["resource"]
    assert [(i["system"], i["value"]) for i in resource["identifier"]] == [
        (mrn, patients["hallam"].medical_record_number),
        ("urn:oid:1.2.36.146.595.217.0.1", "12345"),
    ]
