"""clinic.selectors: the one scoping rule behind every read of patient data."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404

from clinic.models import Clinic
from clinic.selectors import clinics_for_user, get_for_user_or_404, is_clinic_admin, scoped
from lesions.models import Lesion, LesionImage, Patient, Visit
from tests.factories import MembershipFactory, PatientFactory


def test_scoped_keeps_rows_of_the_users_clinics(clinician: Any, outsider: Any, lesion_image: LesionImage) -> None:
    for model in (Patient, Lesion, Visit, LesionImage):
        assert scoped(model, clinician).count() == 1
        assert scoped(model, outsider).count() == 0


def test_scoped_covers_every_clinic_of_a_member_of_two(clinician: Any, clinic: Clinic, other_clinic: Clinic) -> None:
    mine = PatientFactory(clinic=clinic)
    theirs = PatientFactory(clinic=other_clinic)
    assert list(scoped(Patient, clinician)) == [mine]

    MembershipFactory(user=clinician, clinic=other_clinic)

    assert set(scoped(Patient, clinician)) == {mine, theirs}


def test_scoped_gives_nothing_to_anonymous_users(patient: Patient) -> None:
    assert not scoped(Patient, AnonymousUser()).exists()
    assert not clinics_for_user(AnonymousUser()).exists()


def test_get_for_user_or_404_returns_the_row(clinician: Any, patient: Patient) -> None:
    assert get_for_user_or_404(Patient, clinician, patient.uuid) == patient


@pytest.mark.parametrize("uuid", ["00000000-0000-0000-0000-000000000000", "not-a-uuid"])
def test_get_for_user_or_404_raises_404_for_unknown_ids(clinician: Any, uuid: str) -> None:
    with pytest.raises(Http404):
        get_for_user_or_404(Patient, clinician, uuid)


def test_get_for_user_or_404_raises_404_for_other_clinics(outsider: Any, patient: Patient) -> None:
    with pytest.raises(Http404):
        get_for_user_or_404(Patient, outsider, patient.uuid)


def test_is_clinic_admin_follows_the_role(clinician: Any, clinic_admin: Any, outsider: Any, clinic: Clinic) -> None:
    assert is_clinic_admin(clinic_admin, clinic)
    assert not is_clinic_admin(clinician, clinic)
    assert not is_clinic_admin(outsider, clinic)
