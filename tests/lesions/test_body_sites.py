"""Points on the body figures: the ISIC site and the patient's side they fall on (lesions.body_sites)."""

from __future__ import annotations

import pytest

from lesions.body_sites import (
    MapPoint,
    body_site_of,
    laterality_conflict,
    laterality_of,
    point_from_units,
    region_centre,
)


@pytest.mark.parametrize(
    ("view", "x", "y", "site"),
    [
        ("anterior", 0, 30, "head/neck"),
        ("posterior", 0, 50, "head/neck"),
        ("anterior", -47, 110, "upper extremity"),
        ("anterior", 0, 110, "anterior torso"),
        ("posterior", 0, 110, "posterior torso"),
        ("posterior", 10, 172, "posterior torso"),  # buttock
        ("anterior", 31, 125, "lateral torso"),
        ("anterior", -58, 170, "palms/soles"),  # palm
        ("posterior", -58, 170, "upper extremity"),  # back of the hand
        ("anterior", 0, 166, "oral/genital"),
        ("anterior", -18, 240, "lower extremity"),
        ("posterior", -18, 240, "lower extremity"),  # calf
        ("posterior", 18, 292, "palms/soles"),  # sole
        ("anterior", 18, 292, "lower extremity"),  # top of the foot
    ],
)
def test_a_point_falls_in_the_isic_site_drawn_there(view: str, x: float, y: float, site: str) -> None:
    assert body_site_of(point_from_units(view, x, y)) == site


def test_the_patients_left_is_on_the_viewers_right_in_front_and_on_the_viewers_left_behind() -> None:
    assert laterality_of(point_from_units("anterior", 20, 240)) == "left"
    assert laterality_of(point_from_units("anterior", -20, 240)) == "right"
    assert laterality_of(point_from_units("posterior", -20, 240)) == "left"
    assert laterality_of(point_from_units("posterior", 20, 240)) == "right"
    assert laterality_of(point_from_units("posterior", 3, 110)) == "midline"


def test_a_side_contradicting_the_point_is_a_wrong_site_and_says_so() -> None:
    right_calf_from_behind = point_from_units("posterior", 20, 240)

    message = laterality_conflict(right_calf_from_behind, "left")

    assert "patient's right side of the posterior figure" in message
    assert laterality_conflict(right_calf_from_behind, "right") == ""
    assert laterality_conflict(point_from_units("anterior", 30, 110), "midline") != ""
    assert laterality_conflict(point_from_units("anterior", 2, 110), "left") == ""  # on the line: no contradiction


def test_a_region_centre_lies_in_its_region_on_the_side_and_view_asked_for() -> None:
    for site in ("head/neck", "upper extremity", "lower extremity", "anterior torso", "posterior torso"):
        assert body_site_of(region_centre(site)) == site
    left_leg_behind = region_centre("lower extremity", view="posterior", laterality="left")
    assert left_leg_behind.view == "posterior"
    assert laterality_of(left_leg_behind) == "left"
    assert body_site_of(left_leg_behind) == "lower extremity"
    assert region_centre("posterior torso", view="anterior").view == "posterior"  # the site decides the view
    assert laterality_of(region_centre("head/neck", laterality="midline")) == "midline"


def test_points_are_kept_in_figure_fractions() -> None:
    point = MapPoint("anterior", 0.25, 0.5)

    assert point.units == (-35.0, 150.0)
    assert point_from_units("anterior", -35, 150) == point
