"""Which prediction speaks for a photo and a visit (followup.timeline), over plain rows."""

from __future__ import annotations

import datetime as dt

import pytest

from followup.flags import MALIGNANT_ROSE, TOP_CLASS_CHANGED
from followup.timeline import lesion_timeline
from tests.followup.rows import DEFAULT, OTHER, flags, image, prediction, timeline, visit

# --- failed and pending predictions -------------------------------------------------------------


@pytest.mark.parametrize("status", ["pending", "running", "failed"])
def test_an_unfinished_latest_visit_is_ignored(status: str) -> None:
    # the latest visit is not analysed: the two earlier (unchanged) visits are compared
    entries = timeline(prediction("nv", 0.1), prediction("nv", 0.12), prediction(status=status))

    assert flags(entries) == set()
    assert entries[-1].prediction is None


@pytest.mark.parametrize("status", ["pending", "failed"])
def test_an_unfinished_previous_visit_is_skipped(status: str) -> None:
    entries = timeline(prediction("nv", 0.1), prediction(status=status), prediction("mel", 0.7))

    assert flags(entries) == {TOP_CLASS_CHANGED, MALIGNANT_ROSE}


def test_a_single_finished_analysis_among_unfinished_ones_raises_no_flag() -> None:
    assert flags(timeline(prediction(status="failed"), None, prediction("mel", 0.9))) == set()


def test_it_uses_the_default_models_prediction() -> None:
    day1, day2 = visit(dt.date(2024, 1, 1)), visit(dt.date(2024, 6, 1))
    entries = lesion_timeline(
        [
            image(day1, prediction("nv", 0.1, model=DEFAULT), prediction("nv", 0.1, model=OTHER)),
            image(day2, prediction("mel", 0.9, model=OTHER), prediction("nv", 0.12, model=DEFAULT)),
        ]
    )

    assert entries[1].top_class == "nv"
    assert flags(entries) == set()


def test_it_falls_back_to_another_model_when_the_default_did_not_finish() -> None:
    day1, day2 = visit(dt.date(2024, 1, 1)), visit(dt.date(2024, 6, 1))
    entries = lesion_timeline(
        [
            image(day1, prediction("nv", 0.1)),
            image(day2, prediction(status="failed", model=DEFAULT), prediction("mel", 0.9, model=OTHER)),
        ]
    )

    assert entries[1].top_class == "mel"
    assert flags(entries) == {TOP_CLASS_CHANGED, MALIGNANT_ROSE}


def test_a_visit_with_two_photos_speaks_with_the_default_models_analysis() -> None:
    day = visit(dt.date(2024, 1, 1))
    first = image(day, prediction("bkl", model=OTHER))
    second = image(day, prediction("df", model=DEFAULT))

    (entry,) = lesion_timeline([first, second])

    assert entry.image is second
    assert entry.top_class == "df"
    assert entry.images == (first, second)
