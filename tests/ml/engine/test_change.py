"""Change between two measured photos: sizes only in one frame, colours new only when clearly absent before."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from ml.engine.change.compare import ALIGNED_FRAME, MM, SCALED, compare
from ml.engine.change.registration import ALIGNED, FAILED, Registration


@dataclass(frozen=True)
class Outline:
    area_px: float = 1000.0
    diameter_px: float = 40.0
    asymmetry: float = 0.1
    colours: tuple[str, ...] = ("light_brown",)
    colour_shares: dict[str, float] = field(default_factory=lambda: {"light_brown": 0.8})


def scaled(scale: float) -> Registration:
    return Registration(status=ALIGNED, matrix=((scale, 0.0, 0.0), (0.0, scale, 0.0)), quality=1.0)


def test_the_newer_photo_outlined_in_the_reference_frame_compares_pixel_for_pixel() -> None:
    change = compare(
        Outline(), Outline(area_px=1300.0, diameter_px=46.0), registration=scaled(0.5), after_in_reference_frame=True
    )
    assert change.comparable and change.basis == ALIGNED_FRAME
    assert change.area_ratio == pytest.approx(1.3) and change.diameter_ratio == pytest.approx(1.15)
    assert change.grew(0.2) and not change.grew(0.3)


def test_a_zoomed_photo_is_not_growth_once_scaled_by_the_registration() -> None:
    # Zoomed in 2x: the lesion covers four times the pixels, the skin says the photo is scaled by 0.5.
    change = compare(Outline(), Outline(area_px=4000.0, diameter_px=80.0), registration=scaled(0.5))
    assert change.basis == SCALED and change.area_ratio == pytest.approx(1.0) and not change.grew(0.2)


def test_pixel_sizes_put_unaligned_photos_in_mm() -> None:
    failed = Registration(status=FAILED, reason="only 3 skin features match")
    change = compare(
        Outline(), Outline(area_px=2000.0), registration=failed, before_mm_per_pixel=0.02, after_mm_per_pixel=0.02
    )
    assert change.comparable and change.basis == MM and change.area_ratio == pytest.approx(2.0)


def test_no_alignment_and_no_pixel_size_compare_nothing_and_say_why() -> None:
    failed = Registration(status=FAILED, reason="only 3 skin features match")
    change = compare(Outline(), Outline(area_px=5000.0), registration=failed)
    assert not change.comparable and change.area_ratio is None and not change.grew(0.2)
    assert "could not align" in change.reason and "3 skin features" in change.reason


def test_different_kinds_of_photo_never_compare() -> None:
    change = compare(Outline(), Outline(area_px=5000.0), registration=scaled(1.0), same_kind=False)
    assert not change.comparable and not change.colours_comparable and "different kinds" in change.reason


def test_a_colour_is_new_only_when_clearly_absent_before() -> None:
    before = Outline(colours=("light_brown",), colour_shares={"light_brown": 0.8, "blue_grey": 0.01, "black": 0.04})
    after = Outline(
        colours=("light_brown", "blue_grey", "black"),
        colour_shares={"light_brown": 0.7, "blue_grey": 0.09, "black": 0.06},
    )
    change = compare(before, after, registration=scaled(1.0), new_colour_min_share=0.05)
    assert change.new_colours == ("blue_grey",)  # black hovered at 4% before: not new
    assert compare(before, after, registration=scaled(1.0), new_colour_min_share=0.1).new_colours == ()


def test_growth_exactly_at_the_threshold_is_not_flagged_and_just_above_is() -> None:
    at = compare(Outline(), Outline(area_px=1200.0), registration=scaled(1.0), after_in_reference_frame=True)
    above = compare(Outline(), Outline(area_px=1200.2), registration=scaled(1.0), after_in_reference_frame=True)
    assert not at.grew(0.2) and above.grew(0.2)
    assert not compare(Outline(), Outline(area_px=500.0), registration=scaled(1.0)).grew(0.2)  # shrinking
