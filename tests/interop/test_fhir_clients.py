"""The live server driven by off-the-shelf FHIR clients, as an integrator would: fhirpy's sync client
(search, count(), paging, search by POST, conditional create) and SMART's fhirclient, whose strict
R4 models (like fhir.resources, see tests/interop/fhir/validation.py) read every answer."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from fhirclient import client as smart_client
from fhirclient.models.bundle import Bundle
from fhirclient.models.patient import Patient as SmartPatient
from fhirpy import SyncFHIRClient

from clinic.auth import api_token_create
from clinic.models import Clinic
from interop.fhir import codes
from lesions.models import Patient
from tests.factories import PatientFactory
from tests.interop.fhir.validation import valid

pytestmark = pytest.mark.django_db(transaction=True)

HOSPITAL = "urn:oid:1.2.36.146.595.217.0.1"


class Recorder:
    """Every FHIR answer the clients get, validated as it comes (requests' response hook)."""

    def __init__(self) -> None:
        self.checked = 0

    def __call__(self, response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        if response.content:
            assert response.headers["Content-Type"].startswith("application/fhir+json"), response.content[:200]
            valid(response.json())
            self.checked += 1
        return response


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    recorder = Recorder()
    original = requests.Session.request

    def request(self: requests.Session, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("hooks", {"response": [recorder]})
        return original(self, *args, **kwargs)

    def module_request(method: str, url: str, **kwargs: Any) -> requests.Response:
        with requests.Session() as session:
            return request(session, method, url, **kwargs)

    monkeypatch.setattr(requests.Session, "request", request)
    monkeypatch.setattr(requests, "request", module_request)
    return recorder


@pytest.fixture
def token(clinician: Any) -> str:
    return api_token_create(user=clinician)[1]


@pytest.fixture
def fhir(live_server: Any, token: str, recorder: Recorder) -> Iterator[SyncFHIRClient]:
    yield SyncFHIRClient(f"{live_server.url}/fhir", authorization=f"Token {token}")
    assert recorder.checked > 0


@pytest.fixture
def many(clinic: Clinic, other_clinic: Clinic) -> list[Patient]:
    PatientFactory(clinic=other_clinic, last_name="Hale")  # never seen by the clinician
    return [
        PatientFactory(clinic=clinic, last_name=f"Hale{index:02d}", date_of_birth=dt.date(1950 + index, 1, 1))
        for index in range(7)
    ]


def test_fhirpy_searches_counts_and_pages(fhir: SyncFHIRClient, many: list[Patient]) -> None:
    patients = fhir.resources("Patient").search(family="Hale")

    assert patients.count() == 7
    assert len(patients.limit(3).fetch()) == 3
    assert sorted(p["name"][0]["family"] for p in patients.limit(3).fetch_all()) == [f"Hale{i:02d}" for i in range(7)]
    assert patients.search(birthdate="ge1955").count() == 2
    newest = patients.sort("-family").first()
    assert newest is not None and newest["name"][0]["family"] == "Hale06"


def test_fhirpy_search_by_post(fhir: SyncFHIRClient, live_server: Any, token: str, many: list[Patient]) -> None:
    response = requests.post(
        f"{live_server.url}/fhir/Patient/_search",
        data={"family": "Hale", "_count": "2"},
        headers={"Authorization": f"Token {token}", "Accept": "application/fhir+json"},
        timeout=30,
    )

    assert response.status_code == 200
    bundle = Bundle(response.json(), strict=True)
    assert bundle.total == 7 and len(bundle.entry) == 2
    following = [link.url for link in bundle.link if link.relation == "next"]
    assert len(fhir.resources("Patient").search(family="Hale").limit(2).fetch()) == 2 and following


def test_fhirpy_conditional_create_twice_makes_one_patient(fhir: SyncFHIRClient, clinic: Clinic) -> None:
    def resource() -> Any:
        return fhir.resource(
            "Patient",
            identifier=[
                {"system": codes.identifier_system(clinic), "value": "RD-9001"},
                {"system": HOSPITAL, "value": "77"},
            ],
            name=[{"use": "official", "family": "Okonkwo", "given": ["Chidi"]}],
            gender="male",
            telecom=[{"system": "phone", "value": "0113 000 0000"}],
        )

    first, created = fhir.resources("Patient").search(identifier=f"{HOSPITAL}|77").get_or_create(resource())
    second, created_again = fhir.resources("Patient").search(identifier=f"{HOSPITAL}|77").get_or_create(resource())

    assert (created, created_again) == (True, False)
    assert first.id == second.id == str(Patient.objects.get().uuid)
    assert fhir.resources("Patient").search(identifier=f"{HOSPITAL}|77").count() == 1
    read = fhir.reference("Patient", first.id).to_resource()
    assert read["meta"]["versionId"] and {"system": HOSPITAL, "value": "77"} in [dict(i) for i in read["identifier"]]


def test_fhirpy_everything_and_lenient_parameters(fhir: SyncFHIRClient, many: list[Patient]) -> None:
    everything = fhir.reference("Patient", str(many[0].uuid)).execute(
        "$everything", method="get", params={"_type": "Patient"}
    )
    counted = fhir.resources("Patient").search(family="Hale", _pretty="true", _total="accurate").count()

    assert [e["resource"]["id"] for e in everything["entry"]] == [str(many[0].uuid)]
    assert counted == 7


def test_fhirclient_reads_the_server(live_server: Any, token: str, recorder: Recorder, many: list[Patient]) -> None:
    smart = smart_client.FHIRClient(settings={"app_id": "dermatrack-tests", "api_base": f"{live_server.url}/fhir/"})
    smart.server.session.headers["Authorization"] = f"Token {token}"  # the server's own scheme (no SMART launch)

    patient = SmartPatient.read(str(many[0].uuid), smart.server)
    assert patient.name[0].family == "Hale00" and patient.meta.versionId

    found = smart.server.request_json("Patient?family=Hale01")
    assert Bundle(found, strict=True).total == 1
    assert recorder.checked >= 1


def test_another_clinics_patient_is_a_404_for_the_client(fhir: SyncFHIRClient, other_clinic: Clinic) -> None:
    from fhirpy.base.exceptions import ResourceNotFound

    outside = PatientFactory(clinic=other_clinic)

    with pytest.raises(ResourceNotFound):
        fhir.reference("Patient", str(outside.uuid)).to_resource()
    assert fhir.resources("Patient").search(_id=str(outside.uuid)).count() == 0
