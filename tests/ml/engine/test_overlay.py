"""Heatmap post-processing: colours in RGB order, blending, PNG encoding, small grayscale maps."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ml.engine.inference.overlay import (
    blend,
    cam_to_uint8,
    colorize,
    encode_png,
    fit_size,
    overlay_png,
)


def decode(png: bytes, flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    image = cv2.imdecode(np.frombuffer(png, dtype=np.uint8), flags)
    assert image is not None
    return image


def test_jet_goes_from_blue_to_red_in_rgb_order() -> None:
    colours = colorize(np.array([[0.0, 1.0]], dtype=np.float32))
    low, high = colours[0, 0], colours[0, 1]
    assert low[2] > 100 and low[0] < 50  # blue
    assert high[0] > 100 and high[2] < 50  # red


def test_turbo_can_be_chosen() -> None:
    cam = np.linspace(0, 1, 16, dtype=np.float32).reshape(4, 4)
    assert not np.array_equal(colorize(cam, cv2.COLORMAP_TURBO), colorize(cam))


def test_cam_to_uint8_clips_and_drops_nan() -> None:
    values = cam_to_uint8(np.array([-1.0, 0.0, 0.5, 1.0, 2.0, np.nan], dtype=np.float32))
    assert values.tolist() == [0, 0, 128, 255, 255, 0]


def test_blend_weights_photo_and_heatmap() -> None:
    photo = np.full((6, 8, 3), 200, dtype=np.uint8)
    cam = np.ones((6, 8), dtype=np.float32)
    assert np.array_equal(blend(photo, cam, alpha=0.0), photo)
    assert np.array_equal(blend(photo, cam, alpha=1.0), colorize(cam))
    half = blend(photo, cam, alpha=0.5).astype(int)
    expected = (photo.astype(int) + colorize(cam).astype(int)) / 2
    assert np.abs(half - expected).max() <= 1


def test_regions_outside_the_crop_are_dimmed_not_tinted() -> None:
    photo = np.full((4, 6, 3), 200, dtype=np.uint8)
    seen = np.zeros((4, 6), dtype=bool)
    seen[:, 2:4] = True
    out = blend(photo, np.zeros((4, 6), dtype=np.float32), alpha=0.4, seen=seen)
    assert (out[:, :2] == 100).all() and (out[:, 4:] == 100).all()
    assert not (out[:, 2:4] == photo[:, 2:4]).all()  # tinted blue inside


def test_blend_refuses_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="shape"):
        blend(np.zeros((4, 4, 3), dtype=np.uint8), np.zeros((4, 5), dtype=np.float32))
    with pytest.raises(ValueError, match="RGB"):
        blend(np.zeros((4, 4), dtype=np.uint8), np.zeros((4, 4), dtype=np.float32))


def test_png_round_trip_keeps_rgb_pixels() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    decoded = cv2.cvtColor(decode(encode_png(image)), cv2.COLOR_BGR2RGB)
    assert np.array_equal(decoded, image)


def test_overlay_png_has_the_photo_size() -> None:
    photo = np.zeros((30, 50, 3), dtype=np.uint8)
    png = overlay_png(photo, np.zeros((30, 50), dtype=np.float32))
    assert decode(png).shape == (30, 50, 3)


def test_fit_size() -> None:
    assert fit_size(4032, 3024, 1024) == (1024, 768)
    assert fit_size(3024, 4032, 1024) == (768, 1024)
    assert fit_size(200, 150, 1024) == (200, 150)
    assert fit_size(200, 150, None) == (200, 150)
