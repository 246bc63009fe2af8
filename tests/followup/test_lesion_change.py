"""How the outlined lesion changed between visits (followup.compare) and its trend, over plain rows.

The growth and new-colour flags compare photos in one frame: ``tests/ml/engine/test_change.py`` and
``tests/followup/test_followup_flow.py``.
"""

from __future__ import annotations

import pytest

from followup.compare import lesion_change, size_series, trend_data
from tests.followup.rows import measured, outlined_timeline

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
