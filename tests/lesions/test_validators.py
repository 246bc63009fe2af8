"""lesions.validators: the text and date rules the models apply."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from lesions.validators import date_errors, normalise_record_number, refuse_control_characters


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("HV-2001", "HV-2001"),
        ("HV-2001\u200b", "HV-2001"),
        ("\ufeffHV-\u200d2001\u00ad", "HV-2001"),
        ("ＨＶ－２００１", "HV-2001"),
        ("\u202eHV-2001\u202c", "HV-2001"),
        ("  hv-2001\t", "hv-2001"),
        ("HV\u3164-2001\ufe0f", "HV-2001"),
    ],
)
def test_record_numbers_are_normalised(typed: str, stored: str) -> None:
    assert normalise_record_number(typed) == stored


@pytest.mark.parametrize("name", ["Margaret", "Zoë", "أحمد", "O'Neil-Smith", "李 伟"])
def test_ordinary_names_pass(name: str) -> None:
    refuse_control_characters(name)


@pytest.mark.parametrize("name", ["Hale\u202e", "\u2067Hale", "Ha\u200fle", "Ha\nle", "Ha\x00le"])
def test_names_with_control_or_direction_characters_are_refused(name: str) -> None:
    with pytest.raises(ValidationError, match="control or text-direction"):
        refuse_control_characters(name)


def test_dates_are_plausible_between_1900_and_today() -> None:
    today = timezone.localdate()

    assert date_errors(today, "visit date") == []
    assert date_errors(None, "visit date") == []
    assert date_errors(dt.date(1900, 1, 1), "visit date") == []
    assert date_errors(today + dt.timedelta(days=1), "visit date") == ["The visit date cannot be in the future."]
    assert date_errors(dt.date(1899, 12, 31), "visit date") == ["The visit date cannot be before 1900."]


def test_a_date_can_be_bounded_by_another() -> None:
    errors = date_errors(dt.date(1960, 1, 1), "visit date", not_before=dt.date(1970, 5, 17), before="the birth")

    assert errors == ["The visit date cannot be before the birth."]
