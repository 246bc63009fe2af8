"""Two visits side by side and the trend across visits (followup.compare), over plain rows."""

from __future__ import annotations

import uuid

import pytest

from followup.compare import class_differences, compare_pair, trend_data
from tests.followup.rows import prediction, timeline

# --- comparison and trend -----------------------------------------------------------------------


def test_compare_defaults_to_the_first_and_the_latest_visit() -> None:
    entries = timeline(prediction(), prediction(), prediction())

    assert compare_pair(entries) == (entries[0], entries[2])
    assert compare_pair(entries, str(entries[1].visit.uuid), None) == (entries[1], entries[2])
    assert compare_pair([]) is None
    with pytest.raises(KeyError):
        compare_pair(entries, str(uuid.uuid4()))


def test_class_differences_are_b_minus_a_with_the_malignant_sum_last() -> None:
    a, b = timeline(prediction("nv", 0.1), prediction("mel", 0.6))

    rows = {row.code: row for row in class_differences(a, b)}

    assert list(rows)[-1] == "malignant"
    assert len(rows) == 8
    assert rows["mel"].delta_points == pytest.approx(50.0)
    assert rows["nv"].delta_points == pytest.approx(-50.0)
    assert rows["malignant"].before_percent == pytest.approx(10.0)
    assert rows["bcc"].delta == 0


def test_a_tiny_fall_rounds_to_zero_points_without_a_sign() -> None:
    a, b = timeline(prediction("nv", 0.30004), prediction("nv", 0.3))

    mel = next(row for row in class_differences(a, b) if row.code == "mel")

    assert str(mel.delta_points) == "0.0"


def test_class_differences_without_an_analysis_have_no_delta() -> None:
    a, b = timeline(None, prediction())

    assert all(row.delta is None for row in class_differences(a, b))


def test_trend_data_has_a_gap_where_a_visit_is_not_analysed() -> None:
    entries = timeline(prediction("nv", 0.1), prediction(status="failed"), prediction("mel", 0.5))

    data = trend_data(entries)

    assert data["labels"] == ["2024-01-01", "2024-03-31", "2024-06-29"]
    series = {s["code"]: s for s in data["series"]}
    assert len(series) == 8
    assert series["mel"]["values"] == [10.0, None, 50.0]
    assert series["malignant"]["values"] == [10.0, None, 50.0]
    assert series["nv"]["values"] == [90.0, None, 50.0]
