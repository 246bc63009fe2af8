"""How the outlined lesion changed between visits (followup.compare), its flags and its trend, over plain rows."""

from __future__ import annotations

from typing import Any

import pytest

from followup.compare import lesion_change, size_series, trend_data
from followup.flags import GREW, NEW_COLOUR, lesion_change_flags
from tests.followup.rows import measured, outlined_timeline


def flag_kinds(entries: list[Any]) -> list[str]:
    return [f.kind for f in lesion_change_flags(timeline=entries, patient_visit_dates=[e.date for e in entries])]


# --- the change between two visits ------------------------------------------------------------


def test_sizes_without_a_pixel_size_compare_relative_to_photos_of_one_type() -> None:
    a, b = outlined_timeline(measured(area=0.20, diameter=0.40), measured(area=0.30, diameter=0.50))

    change = lesion_change(a, b)

    assert change.sizes_comparable and not change.in_mm
    assert change.area_unit == "% of the photo"
    assert change.area_before == pytest.approx(20.0) and change.area_after == pytest.approx(30.0)
    assert change.area_change == pytest.approx(0.5)
    assert change.area_change_percent == 50.0
    assert change.diameter_change == 25.0 and change.diameter_change_unit == "%"


def test_sizes_with_a_pixel_size_compare_in_mm() -> None:
    a, b = outlined_timeline(
        measured(area=0.20, diameter=0.40, mm_per_pixel=0.05), measured(area=0.20, diameter=0.40, mm_per_pixel=0.06)
    )

    change = lesion_change(a, b)

    assert change.in_mm and change.area_unit == "mm²" and change.diameter_unit == "mm"
    # 0.2 × 200 × 150 px = 6000 px: 15 mm² at 0.05 mm, 21.6 mm² at 0.06 mm; diameter 80 px: 4.0 → 4.8 mm
    assert change.area_before == pytest.approx(15.0) and change.area_after == pytest.approx(21.6)
    assert change.area_change == pytest.approx(0.44)
    assert change.diameter_change == pytest.approx(0.8) and change.diameter_change_unit == "mm"


def test_photos_of_different_types_without_a_pixel_size_do_not_compare_in_size() -> None:
    a, b = outlined_timeline(measured(area=0.05), (measured(area=0.40, colours={"black": 0.3}), "clinical_close_up"))

    change = lesion_change(a, b)

    assert not change.sizes_comparable
    assert change.area_change is None and change.diameter_change is None
    assert change.new_colour_names == ["black"]  # colours and asymmetry do not depend on the scale
    assert flag_kinds([a, b]) == [NEW_COLOUR]


def test_colours_and_asymmetry_changes() -> None:
    a, b = outlined_timeline(
        measured(colours={"light_brown": 0.6, "dark_brown": 0.4}, asymmetry=0.10),
        measured(colours={"dark_brown": 0.7, "blue_grey": 0.2}, asymmetry=0.25),
    )

    change = lesion_change(a, b)

    assert change.new_colour_names == ["blue-grey"]
    assert change.lost_colour_names == ["light brown"]
    assert change.asymmetry_change == pytest.approx(0.15)


def test_no_change_without_two_outlined_visits() -> None:
    a, b = outlined_timeline(measured(), None)
    assert lesion_change(a, b) is None


# --- the flags ----------------------------------------------------------------------------------


def test_growth_exactly_at_the_threshold_is_not_flagged_and_just_above_is(settings: Any) -> None:
    settings.FOLLOWUP_GROWTH_THRESHOLD = 0.20
    assert flag_kinds(outlined_timeline(measured(area=0.10), measured(area=0.12))) == []
    assert flag_kinds(outlined_timeline(measured(area=0.10), measured(area=0.1201))) == [GREW]


def test_growth_in_mm2_says_so(settings: Any) -> None:
    entries = outlined_timeline(measured(area=0.10, mm_per_pixel=0.05), measured(area=0.20, mm_per_pixel=0.05))

    (flag,) = lesion_change_flags(timeline=entries, patient_visit_dates=[e.date for e in entries])

    assert flag.title == "Grew +100%"
    assert "Outlined area 7.5 → 15.0 mm² since 2024-01-01" in flag.detail


def test_the_growth_threshold_comes_from_the_settings(settings: Any) -> None:
    entries = outlined_timeline(measured(area=0.10), measured(area=0.115))
    settings.FOLLOWUP_GROWTH_THRESHOLD = 0.20
    assert flag_kinds(entries) == []
    settings.FOLLOWUP_GROWTH_THRESHOLD = 0.10
    assert flag_kinds(entries) == [GREW]


def test_the_growth_flag_says_by_how_much_in_which_unit_and_since_when(settings: Any) -> None:
    settings.FOLLOWUP_GROWTH_THRESHOLD = 0.20
    entries = outlined_timeline(measured(area=0.10), measured(area=0.169))

    (flag,) = lesion_change_flags(timeline=entries, patient_visit_dates=[e.date for e in entries])

    assert flag.title == "Grew +69%"
    assert "10.0% → 16.9% of the photo (relative: no pixel size) since 2024-01-01" in flag.detail
    assert "flagged above +20%" in flag.detail


def test_growth_compares_the_two_latest_outlined_visits() -> None:
    # +100% since the first, +5% since the previous outlined one; the visit between had no outline.
    entries = outlined_timeline(measured(area=0.10), measured(area=0.20), None, measured(area=0.21))
    assert flag_kinds(entries) == []


def test_shrinking_is_not_flagged() -> None:
    assert flag_kinds(outlined_timeline(measured(area=0.30), measured(area=0.10))) == []


def test_a_new_colour_is_flagged_only_from_its_minimum_share(settings: Any) -> None:
    settings.FOLLOWUP_NEW_COLOUR_MIN_SHARE = 0.10
    before = measured(colours={"light_brown": 0.9})
    assert flag_kinds(outlined_timeline(before, measured(colours={"light_brown": 0.9, "black": 0.08}))) == []
    entries = outlined_timeline(before, measured(colours={"light_brown": 0.8, "black": 0.10}))

    (flag,) = lesion_change_flags(timeline=entries, patient_visit_dates=[e.date for e in entries])

    assert flag.kind == NEW_COLOUR
    assert flag.title == "New colour: black"
    assert "black 10% of the lesion" in flag.detail


def test_a_colour_seen_before_is_not_new() -> None:
    both = {"light_brown": 0.5, "black": 0.5}
    assert flag_kinds(outlined_timeline(measured(colours=both), measured(colours=both))) == []


# --- the trend ----------------------------------------------------------------------------------


def test_the_size_series_is_in_mm2_only_when_every_outlined_photo_has_a_pixel_size() -> None:
    in_mm = outlined_timeline(measured(area=0.1, mm_per_pixel=0.05), None, measured(area=0.2, mm_per_pixel=0.05))
    series = size_series(in_mm)
    assert series["unit"] == "mm²"
    assert series["values"] == [7.5, None, 15.0]

    mixed = outlined_timeline(measured(area=0.1, mm_per_pixel=0.05), measured(area=0.2))
    series = trend_data(mixed)["size"]
    assert series["unit"] == "% of the photo" and "relative" in series["label"]
    assert series["values"] == [10.0, 20.0]


def test_there_is_no_size_series_without_outlines() -> None:
    assert trend_data(outlined_timeline(None, None))["size"] is None
