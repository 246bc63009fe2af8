"""The change flags of a lesion (followup.flags) at their boundaries, over plain rows."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import pytest

from followup.flags import (
    MALIGNANT_ROSE,
    NEW_LESION,
    TOP_CLASS_CHANGED,
    lesion_change_flags,
    patient_followups,
)
from tests.followup.rows import flags, image, prediction, timeline, visit

# --- malignant rise -----------------------------------------------------------------------------


def test_no_flag_without_a_previous_visit() -> None:
    assert flags(timeline(prediction("mel", 0.9))) == set()


def test_a_rise_exactly_at_the_threshold_is_not_flagged() -> None:
    # in floating point 0.3 - 0.2 is 0.09999999999999998 but 0.8 - 0.7 is 0.10000000000000009: both are 10 points
    assert flags(timeline(prediction(malignant=0.2), prediction(malignant=0.3))) == set()
    assert flags(timeline(prediction(malignant=0.25), prediction(malignant=0.35))) == set()
    assert flags(timeline(prediction(malignant=0.7), prediction(malignant=0.8))) == set()


def test_a_rise_just_above_the_threshold_is_flagged() -> None:
    entries = timeline(prediction(malignant=0.2), prediction(malignant=0.300001))

    (flag,) = lesion_change_flags(timeline=entries, patient_visit_dates=[e.date for e in entries], threshold=0.10)

    assert flag.kind == MALIGNANT_ROSE
    assert "20% → 30%" in flag.detail
    assert "since 2024-01-01" in flag.detail


def test_a_fall_is_not_flagged() -> None:
    assert flags(timeline(prediction(malignant=0.6), prediction(malignant=0.1))) == set()


def test_the_default_threshold_comes_from_the_settings(settings: Any) -> None:
    entries = timeline(prediction(malignant=0.2), prediction(malignant=0.26))
    dates = [e.date for e in entries]

    settings.FOLLOWUP_MALIGNANT_RISE_THRESHOLD = 0.10
    assert lesion_change_flags(timeline=entries, patient_visit_dates=dates) == []
    settings.FOLLOWUP_MALIGNANT_RISE_THRESHOLD = 0.05
    assert [f.kind for f in lesion_change_flags(timeline=entries, patient_visit_dates=dates)] == [MALIGNANT_ROSE]


def test_it_compares_with_the_previous_visit_not_the_first() -> None:
    # +40 points since the first visit, but only +5 since the previous one
    assert flags(timeline(prediction(malignant=0.1), prediction(malignant=0.45), prediction(malignant=0.5))) == set()


# --- top class ----------------------------------------------------------------------------------


def test_the_same_top_class_is_not_flagged() -> None:
    assert flags(timeline(prediction("nv", 0.1), prediction("nv", 0.15))) == set()


def test_a_changed_top_class_is_flagged() -> None:
    entries = timeline(prediction("nv", 0.1), prediction("bkl", 0.1))

    (flag,) = lesion_change_flags(timeline=entries, patient_visit_dates=[e.date for e in entries], threshold=0.1)

    assert flag.kind == TOP_CLASS_CHANGED
    assert "Melanocytic naevus → Benign keratosis" in flag.detail


def test_both_flags_at_once() -> None:
    assert flags(timeline(prediction("nv", 0.1), prediction("mel", 0.6))) == {TOP_CLASS_CHANGED, MALIGNANT_ROSE}


# --- new lesion ---------------------------------------------------------------------------------


def test_a_lesion_first_photographed_at_the_latest_visit_is_new() -> None:
    entries = timeline(prediction(), start=dt.date(2024, 6, 1))
    patient_dates = [dt.date(2023, 1, 1), dt.date(2024, 6, 1)]

    (flag,) = lesion_change_flags(timeline=entries, patient_visit_dates=patient_dates, threshold=0.1)

    assert flag.kind == NEW_LESION
    assert "2024-06-01" in flag.detail


def test_a_lesion_seen_before_the_latest_visit_is_not_new() -> None:
    entries = timeline(prediction(), prediction())  # 2024-01-01 and 2024-03-31
    patient_dates = [dt.date(2024, 1, 1), dt.date(2024, 3, 31)]

    assert NEW_LESION not in flags(entries, dates=patient_dates)


def test_a_lesion_of_the_patients_first_visit_is_not_new() -> None:
    entries = timeline(prediction(), start=dt.date(2024, 6, 1))

    assert flags(entries, dates=[dt.date(2024, 6, 1), dt.date(2024, 6, 1)]) == set()


def test_a_lesion_not_photographed_at_the_latest_visit_is_not_new() -> None:
    entries = timeline(prediction(), start=dt.date(2024, 6, 1))

    assert flags(entries, dates=[dt.date(2024, 1, 1), dt.date(2024, 6, 1), dt.date(2024, 9, 1)]) == set()


def test_a_lesion_without_photos_has_no_flag() -> None:
    assert flags([], dates=[dt.date(2024, 1, 1), dt.date(2024, 6, 1)]) == set()


def test_a_new_lesion_needs_no_analysis() -> None:
    entries = timeline(None, start=dt.date(2024, 6, 1))

    assert flags(entries, dates=[dt.date(2024, 1, 1), dt.date(2024, 6, 1)]) == {NEW_LESION}


# --- patient page ordering ----------------------------------------------------------------------


def test_flagged_lesions_come_first_then_the_highest_risk() -> None:
    lesions = [
        SimpleNamespace(pk=pk, label=label) for pk, label in enumerate(["A calm", "B risky", "C flagged", "D none"])
    ]
    d1, d2 = visit(dt.date(2024, 1, 1)), visit(dt.date(2024, 6, 1))
    images = [
        image(d1, prediction("nv", 0.05), lesion_id=0),
        image(d2, prediction("nv", 0.06), lesion_id=0),
        image(d1, prediction("mel", 0.8), lesion_id=1),
        image(d2, prediction("mel", 0.8), lesion_id=1),
        image(d1, prediction("nv", 0.1), lesion_id=2),
        image(d2, prediction("nv", 0.3), lesion_id=2),
    ]

    # C's malignant rise is a stored open flag (followup.flags_sync raised it); the page passes them in.
    raised = SimpleNamespace(kind="malignant_rise", title="Malignant +20 pts", detail="")
    ordered = patient_followups(
        lesions, images, patient_visit_dates=[d1.date, d2.date], threshold=0.1, open_flags={2: [raised]}
    )

    assert [f.lesion.label for f in ordered] == ["C flagged", "B risky", "A calm", "D none"]
    assert ordered[0].flagged
    assert ordered[1].latest_malignant_probability == pytest.approx(0.8)
    assert ordered[3].timeline == []
