"""Implausible dates, look-alike record numbers, hidden characters and huge notes are refused the
same way by the pages and the API (the rules are the models'): a message naming the problem,
never a 500, nothing stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse

from clinic.models import Clinic
from lesions.models import Lesion, Patient, Visit
from lesions.validators import NOTES_MAX_LENGTH
from tests.factories import NEW_PATIENT, PatientFactory, patient_form_data, visit_form_data
from tests.helpers import token_client

RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE
ZWSP = "\u200b"  # ZERO WIDTH SPACE
HUGE_NOTES = "x" * (NOTES_MAX_LENGTH + 1)


Create = Callable[..., tuple[int, str]]


def creating(
    request: pytest.FixtureRequest,
    client: Client,
    clinician: Any,
    *,
    page: str,
    form: Callable[..., dict[str, Any]],
    api: str,
    body: Callable[..., dict[str, Any]],
) -> Create:
    """``create(**fields)``: POST the page's ``form(**fields)`` or the API's JSON ``body(**fields)``, as the
    fixture's param says, logged in as ``clinician``; gives (status, body)."""
    if request.param == "web":
        client.force_login(clinician)
    api_client = None if request.param == "web" else token_client(clinician)

    def create(**fields: Any) -> tuple[int, str]:
        if api_client is None:
            response = client.post(page, form(**fields))
        else:
            response = api_client.post(api, body(**fields), format="json")
        return response.status_code, response.content.decode()

    return create


@pytest.fixture(params=["web", "api"])
def create_patient(request: pytest.FixtureRequest, clinician: Any, clinic: Clinic, client: Client) -> Create:
    """``create_patient(**fields)`` through the patient form or the API: (status, body)."""
    return creating(
        request,
        client,
        clinician,
        page=reverse("patient-create"),
        form=lambda **fields: patient_form_data(clinic=clinic.pk, **fields),
        api=reverse("api-patient-list"),
        body=lambda **fields: {k: v for k, v in patient_form_data(**fields).items() if k != "fitzpatrick_skin_type"},
    )


def refused(status: int) -> bool:
    return status in {200, 400}  # the page shows the form again; the API answers 400


@pytest.mark.parametrize(
    ("day", "message"),
    [("2999-01-01", "cannot be in the future"), ("0001-01-01", "cannot be before 1900"), ("1899-12-31", "1900")],
)
def test_an_implausible_date_of_birth_is_refused(create_patient: Any, day: str, message: str) -> None:
    status, body = create_patient(date_of_birth=day)

    assert refused(status) and message in body
    assert not Patient.objects.exists()


@pytest.mark.parametrize("number", [f"HV-2001{ZWSP}", "hv-2001", "ＨＶ－２００１", f"{RLO}HV-2001", " HV-2001 "])
def test_a_record_number_that_only_looks_different_is_taken(create_patient: Any, clinic: Clinic, number: str) -> None:
    PatientFactory(clinic=clinic, medical_record_number="HV-2001")

    status, body = create_patient(medical_record_number=number)

    assert refused(status) and Patient.MRN_TAKEN in body
    assert Patient.objects.count() == 1


def test_record_numbers_are_stored_normalised(create_patient: Any) -> None:
    create_patient(medical_record_number=f"ＲＤ－５００１{ZWSP}")

    assert Patient.objects.get().medical_record_number == "RD-5001"


def test_a_record_number_of_invisible_characters_only_is_refused(create_patient: Any) -> None:
    status, body = create_patient(medical_record_number=ZWSP * 3)

    assert refused(status) and "only invisible characters" in body
    assert not Patient.objects.exists()


def test_the_same_number_in_another_clinic_is_fine(create_patient: Any, other_clinic: Clinic) -> None:
    PatientFactory(clinic=other_clinic, medical_record_number=NEW_PATIENT["medical_record_number"])

    create_patient()

    assert Patient.objects.count() == 2


@pytest.mark.parametrize("field", ["first_name", "last_name"])
@pytest.mark.parametrize("character", [RLO, "\u2066", "\n"])
def test_names_with_text_direction_or_control_characters_are_refused(
    create_patient: Any, field: str, character: str
) -> None:
    status, body = create_patient(**{field: f"Hale{character}lanigiro"})

    assert refused(status) and "control or text-direction characters" in body
    assert not Patient.objects.exists()


def test_names_in_any_script_are_fine(create_patient: Any) -> None:
    create_patient(first_name="Zoë", last_name="أحمد")

    assert Patient.objects.get().last_name == "أحمد"


def test_huge_notes_are_refused(create_patient: Any) -> None:
    status, body = create_patient(notes=HUGE_NOTES)

    assert refused(status) and str(NOTES_MAX_LENGTH) in body.replace(",", "")
    assert not Patient.objects.exists()


def test_the_database_refuses_a_case_variant_number_even_without_the_model_check(clinic: Clinic) -> None:
    PatientFactory(clinic=clinic, medical_record_number="HV-2001")

    with pytest.raises(IntegrityError), transaction.atomic():
        Patient.objects.create(clinic=clinic, medical_record_number="hv-2001", first_name="A", last_name="B")


# --- visits ------------------------------------------------------------------------------------


@pytest.fixture(params=["web", "api"])
def create_visit(request: pytest.FixtureRequest, clinician: Any, client: Client, patient: Patient) -> Create:
    """``create_visit(**fields)`` through the new-visit form or the API: (status, body)."""
    return creating(
        request,
        client,
        clinician,
        page=reverse("visit-create", args=[patient.uuid]),
        form=lambda **fields: {**visit_form_data(), **fields},
        api=reverse("api-patient-visits", args=[patient.uuid]),
        body=lambda **fields: fields,
    )


@pytest.mark.parametrize(
    ("day", "message"),
    [
        ("2999-01-01", "cannot be in the future"),
        ("0001-01-01", "cannot be before 1900"),
        ("1960-01-01", "cannot be before the patient"),
    ],
)
def test_an_implausible_visit_date_is_refused(create_visit: Any, day: str, message: str) -> None:
    status, body = create_visit(date=day)

    assert refused(status) and message in body
    assert not Visit.objects.exists()


def test_huge_visit_notes_are_refused(create_visit: Any) -> None:
    status, body = create_visit(date="2024-05-01", notes=HUGE_NOTES)

    assert refused(status) and str(NOTES_MAX_LENGTH) in body.replace(",", "")
    assert not Visit.objects.exists()


def test_a_new_lesion_named_with_a_direction_override_is_a_form_error(
    clinician_client: Client, patient: Patient, jpeg_file: Any
) -> None:
    response = clinician_client.post(
        reverse("visit-create", args=[patient.uuid]),
        visit_form_data({"photo": jpeg_file, "new_lesion_label": f"mole{RLO}", "new_lesion_body_site": "head/neck"}),
    )

    assert response.status_code == 200
    assert "control or text-direction characters" in response.content.decode()
    assert not Visit.objects.exists() and not Lesion.objects.exists()


# --- lesions -----------------------------------------------------------------------------------


@pytest.fixture(params=["web", "api"])
def edit_lesion(request: pytest.FixtureRequest, clinician: Any, client: Client, lesion: Lesion) -> Any:
    base = {"label": lesion.label, "body_site": lesion.body_site, "status": "monitoring"}
    if request.param == "web":
        client.force_login(clinician)

        def web(**fields: Any) -> tuple[int, str]:
            response = client.post(reverse("lesion-edit", args=[lesion.uuid]), {**base, **fields})
            return response.status_code, response.content.decode()

        return web
    api = token_client(clinician)

    def api_edit(**fields: Any) -> tuple[int, str]:
        response = api.patch(reverse("api-lesion-detail", args=[lesion.uuid]), fields, format="json")
        return response.status_code, response.content.decode()

    return api_edit


@pytest.mark.parametrize(
    ("day", "message"),
    [("2999-01-01", "cannot be in the future"), ("0001-01-01", "cannot be before 1900"), ("1960-01-01", "birth")],
)
def test_an_implausible_date_of_confirmation_is_refused(
    edit_lesion: Any, lesion: Lesion, day: str, message: str
) -> None:
    status, body = edit_lesion(diagnosis="nv", diagnosis_confirmation="histo", diagnosis_date=day)

    assert refused(status) and message in body
    lesion.refresh_from_db()
    assert lesion.diagnosis_date is None


def test_a_lesion_label_with_a_direction_override_is_refused(edit_lesion: Any, lesion: Lesion) -> None:
    status, body = edit_lesion(label=f"mole{RLO}elom")

    assert refused(status) and "control or text-direction characters" in body
    lesion.refresh_from_db()
    assert RLO not in lesion.label


REVERSED_LEFT = f"{RLO}TFEL\u202c forearm"  # shows as "LEFT forearm"


def test_a_site_detail_with_a_direction_override_is_refused(edit_lesion: Any, lesion: Lesion) -> None:
    status, body = edit_lesion(body_site_detail=REVERSED_LEFT)

    assert refused(status) and "control or text-direction characters" in body
    lesion.refresh_from_db()
    assert lesion.body_site_detail == ""


def test_a_new_lesion_created_through_the_api_with_such_a_site_detail_is_refused(
    clinician: Any, patient: Patient
) -> None:
    response = token_client(clinician).post(
        reverse("api-patient-lesions", args=[patient.uuid]),
        {"label": "Forearm mole", "body_site": "upper extremity", "body_site_detail": REVERSED_LEFT},
        format="json",
    )

    assert response.status_code == 400 and "body_site_detail" in response.json()
    assert not Lesion.objects.exists()


def test_a_new_lesion_of_a_visit_with_such_a_site_detail_is_a_form_error(
    clinician_client: Client, patient: Patient, jpeg_file: Any
) -> None:
    response = clinician_client.post(
        reverse("visit-create", args=[patient.uuid]),
        visit_form_data(
            {
                "photo": jpeg_file,
                "new_lesion_label": "Forearm mole",
                "new_lesion_body_site": "upper extremity",
                "new_lesion_body_site_detail": REVERSED_LEFT,
            }
        ),
    )

    assert response.status_code == 200
    assert "control or text-direction characters" in response.content.decode()
    assert not Visit.objects.exists() and not Lesion.objects.exists()


def test_a_site_detail_in_any_script_is_fine(edit_lesion: Any, lesion: Lesion) -> None:
    edit_lesion(body_site_detail="الساعد الأيسر")

    lesion.refresh_from_db()
    assert lesion.body_site_detail == "الساعد الأيسر"
