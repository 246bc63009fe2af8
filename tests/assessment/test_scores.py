"""The checklists' arithmetic at the thresholds, and what an outline suggests."""

from __future__ import annotations

import pytest

from assessment import scores


def test_the_7_point_score_weighs_major_criteria_2_and_minor_1() -> None:
    assert scores.seven_point_score({"atypical_network": True}) == 2
    assert scores.seven_point_score({"atypical_network": True, "regression": True}) == 3
    everything = {name: True for name, *_ in scores.SEVEN_POINT_ITEMS}
    assert scores.seven_point_score(everything) == 10


@pytest.mark.parametrize(
    ("a", "b", "c", "d", "tds", "band"),
    [
        (0, 0, 1, 1, 1.0, "benign"),
        (1, 2, 3, 2, 4.0, "benign"),
        (2, 0, 2, 2, 4.6, "benign"),
        (1, 5, 4, 4, 5.8, "highly suspicious"),
        (2, 2, 2, 2, 4.8, "suspicious"),
        (2, 8, 2, 2, 5.4, "suspicious"),
        (2, 8, 3, 2, 5.9, "highly suspicious"),
    ],
)
def test_the_tds_is_the_weighted_sum_and_its_band(a: int, b: int, c: int, d: int, tds: float, band: str) -> None:
    values = {"abcd_asymmetry": a, "abcd_border": b, "abcd_colours": c, "abcd_structures": d}
    assert scores.total_dermoscopy_score(values) == pytest.approx(tds)
    assert scores.tds_band(scores.total_dermoscopy_score(values)) == band


def test_the_tds_band_edges() -> None:
    assert scores.tds_band(4.74) == "benign"
    assert scores.tds_band(4.75) == "suspicious"
    assert scores.tds_band(5.45) == "suspicious"
    assert scores.tds_band(5.46) == "highly suspicious"


def test_no_tds_until_all_four_items_are_given() -> None:
    assert scores.total_dermoscopy_score({"abcd_asymmetry": 2, "abcd_border": 4, "abcd_colours": 3}) is None
    assert scores.tds_band(None) == ""


def test_the_3_point_score_waits_for_every_answer() -> None:
    assert scores.three_point_score({"tp_asymmetry": True, "tp_atypical_network": True}) is None
    assert scores.three_point_score({"tp_asymmetry": True, "tp_atypical_network": False, "tp_blue_white": True}) == 2


def test_the_outline_suggests_asymmetric_axes_border_segments_and_colours() -> None:
    symmetric = scores.outline_suggestions(
        asymmetry_major_axis=0.01, asymmetry_minor_axis=0.02, compactness=1.02, colours=1
    )
    assert {name: s.value for name, s in symmetric.items()} == {
        "abcd_asymmetry": 0,
        "abcd_border": 0,
        "abcd_colours": 1,
    }
    ragged = scores.outline_suggestions(asymmetry_major_axis=0.3, asymmetry_minor_axis=0.2, compactness=2.5, colours=7)
    assert {name: s.value for name, s in ragged.items()} == {"abcd_asymmetry": 2, "abcd_border": 8, "abcd_colours": 6}
    assert "compactness 2.50" in ragged["abcd_border"].basis
    none_found = scores.outline_suggestions(
        asymmetry_major_axis=0.2, asymmetry_minor_axis=0.1, compactness=1.3, colours=0
    )
    assert none_found["abcd_colours"].value == 1 and none_found["abcd_asymmetry"].value == 1
    assert none_found["abcd_border"].value == 3
