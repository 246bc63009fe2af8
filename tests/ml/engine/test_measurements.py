"""Lesion measurements on synthetic shapes with known answers (each within 2% of the true value)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ml.engine.segmentation.measurements import (
    ABCD_COLOURS,
    REFERENCE_SKIN,
    EmptyMaskError,
    cam_mass_in_mask,
    classify_colours,
    measure_lesion,
)

HEIGHT, WIDTH = 300, 400
CX, CY = 200.3, 150.2  # off the pixel grid, so no shape is accidentally pixel-symmetric


def rotated(angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates (u, v) of every pixel centre in a frame turned by ``angle`` about (CX, CY)."""
    y, x = np.mgrid[:HEIGHT, :WIDTH]
    dx, dy = x - CX, y - CY
    c, s = math.cos(angle), math.sin(angle)
    return dx * c + dy * s, -dx * s + dy * c


def disc(radius: float) -> np.ndarray:
    u, v = rotated(0.0)
    return u * u + v * v <= radius * radius


def ellipse(a: float, b: float, angle: float) -> np.ndarray:
    u, v = rotated(angle)
    return (u / a) ** 2 + (v / b) ** 2 <= 1


def square(side: float, angle: float) -> np.ndarray:
    u, v = rotated(angle)
    return (np.abs(u) <= side / 2) & (np.abs(v) <= side / 2)


def ellipse_perimeter(a: float, b: float) -> float:
    """Ramanujan's second approximation (relative error below 1e-9 at this eccentricity)."""
    h = ((a - b) / (a + b)) ** 2
    return math.pi * (a + b) * (1 + 3 * h / (10 + math.sqrt(4 - 3 * h)))


def within_2_percent(value: float | None, truth: float) -> bool:
    return value is not None and abs(value - truth) <= 0.02 * abs(truth)


def test_disc_area_diameter_compactness_and_symmetry() -> None:
    r = 60.0
    m = measure_lesion(disc(r))

    assert within_2_percent(m.area_px, math.pi * r * r)
    assert m.area_fraction == pytest.approx(m.area_px / (HEIGHT * WIDTH))
    assert within_2_percent(m.diameter_px, 2 * r)
    assert within_2_percent(m.width_px, 2 * r)
    assert within_2_percent(m.perimeter_px, 2 * math.pi * r)
    assert within_2_percent(m.compactness, 1.0)
    assert m.asymmetry_major_axis < 0.02 and m.asymmetry_minor_axis < 0.02
    assert m.diameter_fraction == pytest.approx(m.diameter_px / WIDTH)


@pytest.mark.parametrize("angle", [0.0, 0.5, 1.3])
def test_ellipse_feret_is_the_major_axis_and_width_the_minor(angle: float) -> None:
    a, b = 90.0, 40.0
    m = measure_lesion(ellipse(a, b, angle))

    assert within_2_percent(m.area_px, math.pi * a * b)
    assert within_2_percent(m.diameter_px, 2 * a)
    assert within_2_percent(m.width_px, 2 * b)
    assert within_2_percent(m.compactness, ellipse_perimeter(a, b) ** 2 / (4 * math.pi * math.pi * a * b))
    assert m.asymmetry < 0.02


@pytest.mark.parametrize("angle", [0.0, math.radians(30)])
def test_square_feret_is_the_diagonal_and_compactness_four_over_pi(angle: float) -> None:
    side = 100.0
    m = measure_lesion(square(side, angle))

    assert within_2_percent(m.area_px, side * side)
    assert within_2_percent(m.diameter_px, side * math.sqrt(2))
    assert within_2_percent(m.width_px, side * math.sqrt(2))  # across the other diagonal
    assert within_2_percent(m.compactness, 4 / math.pi)
    assert m.asymmetry < 0.02


def test_a_ragged_border_is_less_compact_than_a_disc() -> None:
    u, v = rotated(0.0)
    theta = np.arctan2(v, u)
    star = np.hypot(u, v) <= 60 * (1 + 0.25 * np.cos(12 * theta))
    assert measure_lesion(star).compactness > 1.5


def test_asymmetry_is_zero_about_the_axis_of_symmetry_only() -> None:
    # A disc with a bump on its right: symmetric about the horizontal (major) axis, not the vertical one.
    u, v = rotated(0.0)
    shape = (u * u + v * v <= 50**2) | ((np.abs(u - 60) <= 15) & (np.abs(v) <= 10))
    m = measure_lesion(shape)
    assert m.asymmetry_major_axis < 0.02
    assert m.asymmetry_minor_axis > 0.08
    assert m.asymmetry == m.asymmetry_minor_axis


def test_sizes_in_mm_with_a_pixel_size_and_relative_without() -> None:
    r, mm_per_pixel = 60.0, 0.05  # a disc of 6 mm across
    mask = disc(r)

    relative = measure_lesion(mask)
    assert relative.sizes_are_relative
    assert relative.area_mm2 is None and relative.diameter_mm is None and relative.width_mm is None

    m = measure_lesion(mask, mm_per_pixel=mm_per_pixel)
    assert not m.sizes_are_relative
    assert within_2_percent(m.area_mm2, math.pi * 3.0**2)
    assert within_2_percent(m.diameter_mm, 6.0)
    assert within_2_percent(m.width_mm, 6.0)
    assert m.to_dict()["area_mm2"] == m.area_mm2


def test_a_mask_measured_at_half_size_reports_photo_pixels_through_scale() -> None:
    r = 60.0
    half = disc(r)[::2, ::2]
    m = measure_lesion(half, scale=2.0, mm_per_pixel=0.05)
    assert within_2_percent(m.area_px, math.pi * r * r)
    assert within_2_percent(m.diameter_px, 2 * r)
    assert within_2_percent(m.diameter_mm, 6.0)


def _photo_with(colours: dict[str, np.ndarray], background: tuple[int, int, int] = REFERENCE_SKIN) -> np.ndarray:
    rgb = np.empty((HEIGHT, WIDTH, 3), dtype=np.uint8)
    rgb[:] = background
    for name, region in colours.items():
        rgb[region] = ABCD_COLOURS[name]
    return rgb


def test_two_colours_are_found_and_nothing_else() -> None:
    lesion = disc(60)
    u, _ = rotated(0.0)
    rgb = _photo_with({"dark_brown": lesion & (u < 0), "red": lesion & (u >= 0)})

    m = measure_lesion(lesion, rgb)
    assert m.colours == ("dark_brown", "red")
    assert m.colour_shares["dark_brown"] == pytest.approx(0.5, abs=0.02)
    assert m.colour_shares["red"] == pytest.approx(0.5, abs=0.02)
    assert sum(m.colour_shares.values()) == pytest.approx(1.0)


def test_a_colour_below_the_minimum_share_and_skin_coloured_pixels_are_not_colours() -> None:
    lesion = disc(60)
    u, v = rotated(0.0)
    speck = lesion & (u * u + v * v <= 10**2)  # under 3% of the lesion
    skin_coloured = lesion & (u > 30)
    rgb = _photo_with({"light_brown": lesion & ~skin_coloured, "black": speck})

    present, shares = classify_colours(rgb, lesion)
    assert present == ("light_brown",)
    assert 0 < shares["black"] < 0.05
    assert sum(shares.values()) == pytest.approx(1 - skin_coloured.sum() / lesion.sum(), abs=0.01)


def test_a_colour_cast_of_the_dermatoscope_is_white_balanced_on_the_skin() -> None:
    lesion = disc(60)
    u, _ = rotated(0.0)
    rgb = _photo_with({"dark_brown": lesion & (u < 0), "blue_grey": lesion & (u >= 0)})
    cast = np.clip(rgb * np.array([1.1, 0.8, 0.7]), 0, 255).astype(np.uint8)  # a warm, reddish cast

    assert classify_colours(cast, lesion)[0] == ("dark_brown", "blue_grey")
    assert classify_colours(cast, lesion, white_balance=False)[0] != ("dark_brown", "blue_grey")


def test_every_reference_colour_is_recognised_as_itself() -> None:
    lesion = disc(60)
    for name in ABCD_COLOURS:
        present, _ = classify_colours(_photo_with({name: lesion}), lesion)
        assert present == (name,)


def test_a_photo_of_another_size_is_resized_to_the_mask() -> None:
    lesion = disc(60)
    rgb = _photo_with({"blue_grey": lesion})
    m = measure_lesion(lesion[::2, ::2], rgb, scale=2.0)
    assert m.colours == ("blue_grey",)


def test_cam_mass_in_mask() -> None:
    cam = np.zeros((10, 20))
    cam[:, :10] = 1.0  # all the heat on the left half
    mask = np.zeros((10, 20), dtype=bool)
    mask[:, :5] = True  # the left quarter
    assert cam_mass_in_mask(cam, mask) == pytest.approx(0.5)
    assert cam_mass_in_mask(cam, ~mask) == pytest.approx(0.5)
    # A photo-sized mask is brought to the heatmap's size.
    assert cam_mass_in_mask(cam, np.repeat(np.repeat(mask, 4, axis=0), 4, axis=1)) == pytest.approx(0.5)
    assert cam_mass_in_mask(np.zeros((10, 20)), mask) is None


def test_an_empty_mask_cannot_be_measured() -> None:
    with pytest.raises(EmptyMaskError):
        measure_lesion(np.zeros((20, 20), dtype=bool))
