"""Preprocessing keeps the photo's proportions, orientation and content, and decodes big JPEGs cheaply."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from ml.engine.inference.preprocess import (
    CropGeometry,
    PreprocessConfig,
    cover_box,
    prepare_model_input,
    resample_filter,
)
from ml.engine.manifest import Manifest


def config(height: int = 64, width: int = 80, **options: object) -> PreprocessConfig:
    """Identity normalisation, so tensor values are pixel / 255."""
    return PreprocessConfig(height=height, width=width, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), **options)  # type: ignore[arg-type]


def disc_photo(width: int, height: int, radius: int) -> Image.Image:
    image = Image.new("RGB", (width, height), (0, 0, 0))
    cx, cy = width // 2, height // 2
    ImageDraw.Draw(image).ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=(255, 255, 255))
    return image


def extent(mask: np.ndarray) -> tuple[int, int]:
    """(width, height) in pixels of the True region."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)


@pytest.mark.parametrize(("width", "height"), [(300, 200), (400, 150), (160, 240), (200, 200)])
def test_a_circle_stays_a_circle(width: int, height: int) -> None:
    radius = min(width, height) // 4
    prepared = prepare_model_input(disc_photo(width, height, radius), config())
    disc = prepared.tensor[0].numpy() > 0.5
    disc_width, disc_height = extent(disc)
    assert abs(disc_width - disc_height) <= 1, (disc_width, disc_height)
    # ...at the scale that just covers the 80x64 input (the photo is not shrunk further).
    w, h = (height, width) if prepared.geometry.rotated else (width, height)
    assert disc_width == pytest.approx(2 * radius * max(80 / w, 64 / h), abs=2)


def test_crop_is_the_centre_of_the_photo_at_the_input_aspect() -> None:
    assert cover_box(300, 200, 80, 64) == (25.0, 0.0, 275.0, 200.0)
    assert cover_box(100, 200, 80, 64) == (0.0, 60.0, 100.0, 140.0)
    prepared = prepare_model_input(Image.new("RGB", (300, 200)), config())
    assert prepared.geometry.box == (25.0, 0.0, 275.0, 200.0)
    assert prepared.tensor.shape == (3, 64, 80)


def test_normalisation_uses_the_configured_mean_and_std() -> None:
    cfg = PreprocessConfig(height=8, width=8, mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 2.0))
    tensor = prepare_model_input(Image.new("RGB", (20, 20), (51, 102, 255)), cfg).tensor
    expected = [(0.2 - 0.5) / 0.5, (0.4 - 0.25) / 0.25, (1.0 - 0.0) / 2.0]
    for channel, value in enumerate(expected):
        assert torch.allclose(tensor[channel], torch.full((8, 8), value), atol=1e-5)


def test_config_from_manifest_and_from_timm_model() -> None:
    manifest = Manifest(
        name="m",
        architecture="resnet18",
        weights_file="w.safetensors",
        weights_sha256="0" * 64,
        input_size=[3, 192, 256],
        mean=[0.5, 0.5, 0.5],
        std=[0.5, 0.5, 0.5],
        interpolation="bilinear",
    )
    cfg = PreprocessConfig.from_manifest(manifest)
    assert (cfg.height, cfg.width, cfg.mean, cfg.interpolation) == (192, 256, (0.5, 0.5, 0.5), "bilinear")

    import timm

    cfg = PreprocessConfig.from_model(timm.create_model("resnet18", num_classes=7))
    assert (cfg.height, cfg.width) == (224, 224)
    assert cfg.mean == pytest.approx((0.485, 0.456, 0.406))


def test_unknown_interpolation_is_refused() -> None:
    assert resample_filter("BICUBIC") == Image.Resampling.BICUBIC
    with pytest.raises(ValueError, match="interpolation"):
        config(interpolation="sinc")


def test_portrait_photo_is_rotated_counter_clockwise_for_a_landscape_input() -> None:
    photo = Image.new("RGB", (200, 300), (0, 0, 0))
    photo.paste((255, 0, 0), (0, 0, 40, 40))  # top-left corner of the photo
    prepared = prepare_model_input(photo, config())
    assert prepared.geometry.rotated
    red = prepared.tensor[0].numpy() > 0.5
    rows, cols = np.nonzero(red)
    # Rotated 90° counter-clockwise the top-left corner becomes the bottom-left one.
    assert rows.min() > 32 and cols.max() < 40


def test_rotation_can_be_switched_off_and_never_happens_for_square_inputs() -> None:
    portrait = disc_photo(200, 300, 40)
    assert not prepare_model_input(portrait, config(allow_rotation=False)).geometry.rotated
    assert not prepare_model_input(portrait, config(height=64, width=64)).geometry.rotated
    assert prepare_model_input(disc_photo(300, 200, 40), config(height=80, width=64)).geometry.rotated


def test_exif_orientation_is_applied_first(make_jpeg) -> None:
    upright = Image.new("RGB", (200, 300), (0, 0, 0))
    upright.paste((255, 0, 0), (0, 0, 200, 60))  # red band along the top
    stored = make_jpeg(upright.transpose(Image.Transpose.ROTATE_90), orientation=6)
    prepared = prepare_model_input(stored, config(allow_rotation=False, height=60, width=40))
    assert (prepared.geometry.photo_width, prepared.geometry.photo_height) == (200, 300)
    red = prepared.tensor[0].numpy()
    assert red[:10].mean() > 0.8  # top rows red, as the photo is displayed
    assert red[-10:].mean() < 0.2


def test_big_jpeg_is_decoded_at_reduced_size_with_the_same_content(make_jpeg) -> None:
    x = np.linspace(0, 255, 4032, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, 3024, dtype=np.float32)[:, None]
    pixels = np.stack([x + 0 * y, y + 0 * x, (x + y) / 2], axis=-1).astype(np.uint8)
    big = Image.fromarray(pixels)
    cfg = config(height=224, width=224)

    lazy = make_jpeg(big, quality=85)
    prepared = prepare_model_input(lazy, cfg)
    geometry = prepared.geometry
    assert (geometry.photo_width, geometry.photo_height) == (4032, 3024)
    assert geometry.decoded_width <= 4032 // 4 and geometry.decoded_height <= 3024 // 4
    assert min(geometry.decoded_width, geometry.decoded_height) >= 224  # never below the input size

    full = make_jpeg(big, quality=85)
    full.load()  # already decoded: no draft possible
    reference = prepare_model_input(full, cfg)
    assert reference.geometry.decoded_width == 4032
    assert (prepared.tensor - reference.tensor).abs().mean() < 0.01


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "I;16"])
def test_any_image_mode_becomes_three_channels(mode: str) -> None:
    photo = Image.new("RGB", (90, 70), (200, 100, 50)).convert(mode) if mode != "I;16" else Image.new(mode, (90, 70))
    prepared = prepare_model_input(photo, config())
    assert prepared.tensor.shape == (3, 64, 80)
    assert prepared.photo.mode == "RGB"
    assert torch.isfinite(prepared.tensor).all()


@pytest.mark.parametrize(("width", "height"), [(300, 200), (200, 300), (240, 192)])
def test_a_map_on_the_input_goes_back_onto_the_photo(width: int, height: int) -> None:
    # Smooth content: the input crop's red channel, mapped back, must reproduce the photo.
    xs = np.linspace(0, 1, width)[None, :]
    ys = np.linspace(0, 1, height)[:, None]
    red = (0.5 + 0.25 * np.sin(6 * xs) + 0.25 * np.cos(5 * ys)).astype(np.float32)
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[..., 0] = np.round(red * 255)
    prepared = prepare_model_input(Image.fromarray(pixels), config())
    geometry = prepared.geometry

    back = geometry.map_to_photo(prepared.tensor[0].numpy())
    seen = geometry.crop_mask()
    assert back.shape == (height, width) and seen.shape == (height, width)
    assert (back[~seen] == 0).all()
    assert np.abs(back[seen] - pixels[..., 0][seen] / 255).mean() < 0.01
    expected_seen = round(min(width, height * 80 / 64) * min(height, width * 64 / 80))
    if geometry.rotated:
        expected_seen = round(min(height, width * 80 / 64) * min(width, height * 64 / 80))
    assert abs(int(seen.sum()) - expected_seen) <= width + height


def test_map_to_photo_at_a_smaller_size_keeps_the_aspect() -> None:
    geometry = CropGeometry(
        photo_width=4000,
        photo_height=3000,
        decoded_width=1000,
        decoded_height=750,
        rotated=False,
        box=(125.0, 0.0, 875.0, 750.0),
        input_width=64,
        input_height=64,
    )
    small = geometry.map_to_photo(np.ones((4, 4), dtype=np.float32), (300, 400))
    assert small.shape == (300, 400)
    assert geometry.photo_rect((300, 400)) == (50, 0, 350, 300)
    assert (small[:, 50:350] == 1).all() and (small[:, :50] == 0).all() and (small[:, 350:] == 0).all()
