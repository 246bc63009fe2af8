"""The segmentation network, its manifest, and masks mapped back onto the photo as the clinician sees it."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from ml.engine.inference.preprocess import PreprocessConfig, prepare_model_input
from ml.engine.manifest import Manifest, ManifestError, find_manifests
from ml.engine.pretrained import packaged_state_dict
from ml.engine.segmentation.model import (
    LesionUNet,
    SegmentationManifest,
    Segmenter,
    clean_mask,
    create_segmentation_model,
    find_segmentation_manifests,
    save_segmentation_model,
    segmentation_confidence,
)
from tests.ml.engine.synthetic import GREY, RED, draw_photo, jpeg_image, write_tiny_model


class RedNet(nn.Module):
    """Lesion logits from colour alone, so the right mask is known: +5 on red, -5 on grey (inputs in [0, 1])."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 10 * (x[:, 0:1] - x[:, 1:2]) - 5


def red_segmenter(height: int = 48, width: int = 64) -> Segmenter:
    manifest = SegmentationManifest(
        name="red",
        encoder="stub",
        weights_file="unused.safetensors",
        weights_sha256="0" * 64,
        input_size=[3, height, width],
        mean=[0.0, 0.0, 0.0],
        std=[1.0, 1.0, 1.0],
        interpolation="bilinear",
    )
    return Segmenter(RedNet(), manifest)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.logical_and(a, b).sum() / np.logical_or(a, b).sum())


def box_mask(shape: tuple[int, int], box: tuple[int, int, int, int]) -> np.ndarray:
    left, top, right, bottom = box
    mask = np.zeros(shape, dtype=bool)
    mask[top:bottom, left:right] = True
    return mask


# -- back onto the photo -------------------------------------------------------------------------
def test_wide_landscape_photo_mask_has_the_photos_shape_and_nothing_outside_the_crop() -> None:
    # 240x120 (2:1) into a 4:3 input: the model sees the centre 160x120, columns 40 to 200.
    seg = red_segmenter().segment(draw_photo(240, 120, background=RED))
    assert seg.mask.shape == (120, 240)
    assert not seg.mask[:, :39].any() and not seg.mask[:, 201:].any()
    assert seg.mask[:, 41:199].all()
    assert seg.lesion_fraction == pytest.approx(160 / 240, abs=0.02)
    assert seg.found


def test_portrait_photo_is_rotated_back_and_nothing_outside_the_crop() -> None:
    # 120x240 (portrait) into a landscape input: rotated, then the centre 160 rows are seen.
    seg = red_segmenter().segment(draw_photo(120, 240, background=RED))
    assert seg.mask.shape == (240, 120)
    assert not seg.mask[:39].any() and not seg.mask[201:].any()
    assert seg.mask[41:199].all()


@pytest.mark.parametrize(
    ("width", "height", "box"),
    [
        (200, 150, (130, 20, 190, 80)),  # landscape, lesion top right
        (150, 200, (10, 10, 70, 90)),  # portrait, lesion top left: only right if the rotation is undone
        (150, 200, (80, 120, 140, 190)),  # portrait, lesion bottom right
    ],
)
def test_the_outline_lies_where_the_lesion_is_on_the_photo(width: int, height: int, box: tuple) -> None:
    photo = draw_photo(width, height, [(box, RED)], background=GREY)
    seg = red_segmenter(96, 128).segment(photo)
    assert seg.mask.shape == (height, width)
    assert iou(seg.mask, box_mask((height, width), box)) > 0.9


def test_exif_rotated_jpeg_mask_follows_the_upright_photo() -> None:
    stored = draw_photo(200, 150, [((10, 10, 70, 60), RED)])
    # Orientation 6: the viewer turns the stored image 90° clockwise, so the upright photo is 150x200.
    seg = red_segmenter(96, 128).segment(jpeg_image(stored, orientation=6))
    assert seg.mask.shape == (200, 150)
    upright = np.asarray(stored.transpose(Image.Transpose.ROTATE_270))
    truth = (upright[..., 0] > 200) & (upright[..., 1] < 60)
    assert iou(seg.mask, truth) > 0.85


def test_mask_at_a_smaller_size_and_as_png_keep_the_photos_aspect() -> None:
    photo = draw_photo(400, 300, [((100, 75, 300, 225), RED)])
    seg = red_segmenter().segment(photo)
    small = seg.mask_at((30, 40))
    assert small.shape == (30, 40)
    assert iou(small, box_mask((30, 40), (10, 7, 30, 23))) > 0.8
    png = cv2.imdecode(np.frombuffer(seg.mask_png(max_side=200), np.uint8), cv2.IMREAD_UNCHANGED)
    assert png.shape == (150, 200)
    assert set(np.unique(png)) == {0, 255}


# -- the classifier's ModelInput -----------------------------------------------------------------
def test_a_model_input_made_for_the_classifier_gives_the_same_outline() -> None:
    photo = draw_photo(300, 225, [((40, 30, 160, 150), RED)])
    segmenter = red_segmenter(48, 64)
    direct = segmenter.segment(photo.copy())
    for size in ((96, 128), (64, 64)):  # same aspect: resized; other aspect: prepared again from the photo
        config = PreprocessConfig(height=size[0], width=size[1], mean=(0, 0, 0), std=(1, 1, 1))
        shared = segmenter.segment(prepare_model_input(photo.copy(), config))
        assert shared.mask.shape == direct.mask.shape == (225, 300)
        assert iou(shared.mask, direct.mask) > 0.95


def test_a_model_input_of_the_same_size_is_used_as_it_is() -> None:
    segmenter = red_segmenter(48, 64)
    item = prepare_model_input(draw_photo(200, 150, [((20, 20, 90, 90), RED)]), segmenter.preprocess_config)
    assert segmenter.prepare(item) is item


def test_a_model_input_normalised_for_another_model_is_prepared_again_from_the_decoded_photo() -> None:
    photo = draw_photo(300, 225, [((40, 30, 160, 150), RED)])
    segmenter = red_segmenter(48, 64)
    direct = segmenter.segment(photo.copy())
    # Same aspect ratio and size, other mean: resizing its tensor would make every grey pixel "red".
    for size in ((96, 128), (48, 64)):
        config = PreprocessConfig(height=size[0], width=size[1], mean=(-1.0, 0.0, 0.0), std=(1, 1, 1))
        item = prepare_model_input(photo.copy(), config)
        prepared = segmenter.prepare(item)
        assert prepared is not item and prepared.config == segmenter.preprocess_config
        assert iou(segmenter.segment(item).mask, direct.mask) > 0.95


def test_the_outline_polygon_is_in_photo_pixels_around_the_lesion() -> None:
    seg = red_segmenter(96, 128).segment(draw_photo(400, 300, [((100, 60, 300, 240), RED)]))
    points = np.array(seg.outline_points(max_side=200))
    assert points.ndim == 2 and points.shape[1] == 2 and len(points) >= 4
    assert points[:, 0].min() == pytest.approx(100, abs=6) and points[:, 0].max() == pytest.approx(300, abs=6)
    assert points[:, 1].min() == pytest.approx(60, abs=6) and points[:, 1].max() == pytest.approx(240, abs=6)
    assert red_segmenter().segment(draw_photo(400, 300)).outline_points() == []


def test_masks_of_one_size_are_made_once_for_the_png_the_measurements_and_the_outline() -> None:
    seg = red_segmenter().segment(draw_photo(400, 300, [((100, 75, 300, 225), RED)]))
    first = seg.mask_at((150, 200))
    assert seg.mask_at((150, 200)) is first
    assert seg.mask_at((75, 100)) is not first


# -- confidence and cleaning ---------------------------------------------------------------------
def test_confidence_is_the_soft_dice_of_probabilities_and_outline() -> None:
    certain = np.zeros((10, 10), dtype=np.float32)
    certain[2:6, 2:6] = 1.0
    assert segmentation_confidence(certain, certain > 0.5) == pytest.approx(1.0)
    unsure = np.full((10, 10), 0.6, dtype=np.float32)
    assert segmentation_confidence(unsure, unsure > 0.5) == pytest.approx(2 * 60 / (60 + 100))
    nothing = np.full((10, 10), 0.1, dtype=np.float32)
    assert segmentation_confidence(nothing, nothing > 0.5) == pytest.approx(0.9)


def test_a_sharp_lesion_gets_a_higher_confidence_than_a_faint_one() -> None:
    segmenter = red_segmenter()
    sharp = segmenter.segment(draw_photo(200, 150, [((50, 40, 150, 110), RED)]))
    # p = sigmoid(0.5): outlined, but only just.
    faint = segmenter.segment(draw_photo(200, 150, [((50, 40, 150, 110), (200, 60, 60))]))
    assert sharp.confidence > 0.9
    assert faint.found
    assert faint.confidence < 0.85 < sharp.confidence


def test_clean_mask_keeps_the_largest_region_and_fills_its_holes() -> None:
    mask = np.zeros((40, 40), dtype=bool)
    mask[5:25, 5:25] = True
    mask[10:15, 10:15] = False  # a hole
    mask[30:35, 30:35] = True  # a smaller second region
    cleaned = clean_mask(mask)
    assert cleaned[5:25, 5:25].all()
    assert not cleaned[30:35, 30:35].any()
    assert cleaned.sum() == 400
    assert not clean_mask(np.zeros((5, 5), dtype=bool)).any()


def test_measure_reports_the_lesion_in_photo_pixels_and_mm() -> None:
    photo = Image.new("RGB", (400, 300), GREY)
    from PIL import ImageDraw

    ImageDraw.Draw(photo).ellipse((140, 90, 260, 210), fill=RED)  # a disc 121 px across
    seg = red_segmenter(96, 128).segment(photo)
    m = seg.measure(photo, mm_per_pixel=0.05, max_side=200)
    assert m.diameter_px == pytest.approx(121, rel=0.04)
    assert m.diameter_mm == pytest.approx(121 * 0.05, rel=0.04)
    assert m.area_fraction == pytest.approx(np.pi * 60.5**2 / (400 * 300), rel=0.05)
    assert m.compactness == pytest.approx(1.0, abs=0.05)


# -- the network ---------------------------------------------------------------------------------
def test_the_unet_returns_logits_at_the_input_size_for_any_size() -> None:
    model = LesionUNet().eval()
    with torch.inference_mode():
        assert model(torch.zeros(1, 3, 50, 70)).shape == (1, 1, 50, 70)
        assert model(torch.zeros(2, 3, 144, 192)).shape == (2, 1, 144, 192)
    assert len(model.decoder) == 4
    assert len(LesionUNet(decoder_channels=(64, 32, 16)).decoder) == 3  # ends at stride 4
    with pytest.raises(ValueError):
        LesionUNet(decoder_channels=(64, 32, 16, 16, 8, 8))


def test_the_encoder_starts_from_the_packaged_imagenet_weights() -> None:
    model, report = create_segmentation_model("tf_efficientnet_lite0", pretrained="imagenet-package")
    packaged = list(packaged_state_dict("tf_efficientnet_lite0").values())
    assert torch.equal(model.encoder.conv_stem.weight, packaged[0])  # the first tensor is the stem conv
    assert report.matched_keys == len(model.encoder.state_dict())
    random_model, _ = create_segmentation_model("tf_efficientnet_lite0")
    assert not torch.equal(random_model.encoder.conv_stem.weight, packaged[0])


# -- the manifest --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def saved_segmenter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = LesionUNet()
    manifest = save_segmentation_model(
        model.eval(),
        tmp_path_factory.mktemp("seg-weights") / "seg.json",
        name="seg",
        encoder="tf_efficientnet_lite0",
        input_size=[3, 48, 64],
    )
    assert manifest.path is not None
    return manifest.path


def test_a_saved_model_loads_verified_and_segments(saved_segmenter: Path) -> None:
    data = json.loads(saved_segmenter.read_text())
    assert data["kind"] == "segmentation"
    segmenter = Segmenter.from_manifest(saved_segmenter)
    seg = segmenter.segment(draw_photo(150, 200, [((20, 20, 80, 80), RED)]))
    assert seg.mask.shape == (200, 150)
    assert seg.probabilities.shape == (48, 64)
    assert 0.0 <= seg.confidence <= 1.0
    assert set(seg.timings) == {"preprocess", "forward", "postprocess"}


def test_weights_that_do_not_match_the_manifest_are_refused(saved_segmenter: Path, tmp_path: Path) -> None:
    copy = tmp_path / "seg.json"
    copy.write_text(saved_segmenter.read_text())
    weights = saved_segmenter.with_suffix(".safetensors").read_bytes()
    (tmp_path / "seg.safetensors").write_bytes(weights[:-1] + bytes([weights[-1] ^ 1]))
    with pytest.raises(ManifestError, match="does not match"):
        Segmenter.from_manifest(copy)


def test_classifier_and_segmentation_manifests_stay_apart(saved_segmenter: Path) -> None:
    folder = saved_segmenter.parent
    classifier = write_tiny_model(folder, name="tiny_classifier")
    assert find_manifests(folder) == [classifier.path]
    assert find_segmentation_manifests(folder) == [saved_segmenter]
    with pytest.raises(ManifestError, match="not a classifier"):
        Manifest.load(saved_segmenter)
    with pytest.raises(ManifestError, match="not a segmentation manifest"):
        SegmentationManifest.load(classifier.path)  # type: ignore[arg-type]


def test_flipped_views_average_the_probabilities_and_transposes_are_refused() -> None:
    photo = draw_photo(120, 90, [((30, 20, 70, 50), RED)])
    plain = red_segmenter()
    flipped = Segmenter(RedNet(), plain.manifest, views=("identity", "hflip", "vflip", "rot180"))
    # RedNet reads each pixel's colour alone, so every flip sees the same lesion: the average is the same map.
    assert np.allclose(plain.segment(photo).probabilities, flipped.segment(photo).probabilities, atol=1e-6)
    asymmetric = Segmenter(LeftNet(), plain.manifest, views=("identity", "hflip"))
    probabilities = asymmetric.segment(photo).probabilities
    assert np.allclose(probabilities, probabilities[:, ::-1], atol=1e-6)  # left half + its mirror: symmetric
    with pytest.raises(ValueError, match="flips only"):
        Segmenter(RedNet(), plain.manifest, views=("identity", "transpose"))


class LeftNet(nn.Module):
    """High on the left half of the input whatever it shows: a model whose answer depends on the view."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.full_like(x[:, 0:1], -5.0)
        out[..., : x.shape[-1] // 2] = 5.0
        return out
