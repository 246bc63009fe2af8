"""Grad-CAM correctness on a model whose evidence is known, and its placement on the photo."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from ml.engine.inference.gradcam import GradCAM, normalise_cams

RED = (255, 0, 0)
GREEN = (0, 255, 0)

# On the 64x80 input, RegionNet's feature map is 16x20 (stride 4).
RED_INPUT_BOX = (8, 8, 24, 24)  # left, top, right, bottom in input pixels: top-left
GREEN_INPUT_BOX = (56, 40, 72, 56)  # bottom-right


def input_with_patches(*patches: tuple[tuple[int, int, int, int], tuple[int, int, int]]) -> torch.Tensor:
    """A (1, 3, 64, 80) grey input in [0, 1] with coloured patches."""
    image = torch.full((1, 3, 64, 80), 0.5)
    for (left, top, right, bottom), colour in patches:
        image[0, :, top:bottom, left:right] = torch.tensor(colour, dtype=torch.float32).view(3, 1, 1) / 255
    return image


def feature_box(box: tuple[int, int, int, int]) -> tuple[slice, slice]:
    left, top, right, bottom = box
    return slice(top // 4, bottom // 4), slice(left // 4, right // 4)


def mass_inside(cam: np.ndarray, rows: slice, cols: slice) -> float:
    return float(cam[rows, cols].sum() / cam.sum())


def argmax_2d(cam: np.ndarray) -> tuple[int, int]:
    row, col = np.unravel_index(int(np.argmax(cam)), cam.shape)
    return int(row), int(col)


def test_cam_of_each_class_peaks_on_its_own_evidence(region_net: nn.Module) -> None:
    inputs = input_with_patches((RED_INPUT_BOX, RED), (GREEN_INPUT_BOX, GREEN))
    with GradCAM(region_net, region_net.features) as gradcam:
        red = gradcam(inputs, target_classes=0).cams[0]
        green = gradcam(inputs, target_classes=1).cams[0]

    assert red.shape == (16, 20)
    red_rows, red_cols = feature_box(RED_INPUT_BOX)
    green_rows, green_cols = feature_box(GREEN_INPUT_BOX)
    row, col = argmax_2d(red)
    assert red_rows.start <= row < red_rows.stop and red_cols.start <= col < red_cols.stop
    assert mass_inside(red, red_rows, red_cols) > 0.8
    row, col = argmax_2d(green)
    assert green_rows.start <= row < green_rows.stop and green_cols.start <= col < green_cols.stop
    assert mass_inside(green, green_rows, green_cols) > 0.8
    # Class 1 counts red *against* itself: the gradient's sign must remove the red patch.
    assert green[red_rows, red_cols].max() == 0.0


def test_cam_is_non_negative_and_peaks_at_one(region_net: nn.Module) -> None:
    inputs = input_with_patches((RED_INPUT_BOX, RED), (GREEN_INPUT_BOX, (128, 255, 0)))
    with GradCAM(region_net, region_net.features) as gradcam:
        result = gradcam(inputs, target_classes=[1])
    cam = result.cams[0]
    assert cam.dtype == np.float32
    assert cam.min() >= 0.0
    assert cam.max() == pytest.approx(1.0)


def test_default_target_is_the_top_logit(region_net: nn.Module) -> None:
    inputs = input_with_patches((GREEN_INPUT_BOX, GREEN))
    with GradCAM(region_net, region_net.features) as gradcam:
        result = gradcam(inputs)
    assert result.target_classes == [int(result.logits.argmax())] == [1]


def test_featureless_image_gives_an_all_zero_map_without_nan(region_net: nn.Module) -> None:
    with GradCAM(region_net, region_net.features) as gradcam:
        cam = gradcam(input_with_patches(), target_classes=0).cams[0]
    assert not np.isnan(cam).any()
    assert (cam == 0).all()


def test_normalise_cams_keeps_zero_maps_zero() -> None:
    cams = torch.tensor([[[0.0, 2.0], [1.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]])
    out = normalise_cams(cams)
    assert torch.equal(out[0], torch.tensor([[0.0, 1.0], [0.5, 0.0]]))
    assert torch.equal(out[1], torch.zeros(2, 2))


def test_batch_gives_each_image_its_own_cam(region_net: nn.Module) -> None:
    first = input_with_patches((RED_INPUT_BOX, RED))
    second = input_with_patches(((40, 8, 56, 24), RED))
    with GradCAM(region_net, region_net.features) as gradcam:
        batch = gradcam(torch.cat([first, second]), target_classes=[0, 0]).cams
        alone = [gradcam(x, target_classes=0).cams[0] for x in (first, second)]
    np.testing.assert_allclose(batch[0], alone[0], atol=1e-6)
    np.testing.assert_allclose(batch[1], alone[1], atol=1e-6)
    assert not np.allclose(batch[0], batch[1])


def _graph_node_names(tensor: torch.Tensor) -> set[str]:
    names: set[str] = set()
    stack = [tensor.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or type(node).__name__ in names:
            continue
        names.add(type(node).__name__)
        stack.extend(next_node for next_node, _ in node.next_functions)
    return names


def test_backward_stops_at_the_target_layer_and_leaves_parameters_alone() -> None:
    # A convolution *before* the target layer, with trainable parameters: the Grad-CAM
    # pass must record no graph through it and compute no parameter gradient anywhere.
    stem = nn.Conv2d(3, 3, kernel_size=3, padding=1)
    target = nn.Sequential(nn.Conv2d(3, 8, kernel_size=3, padding=1), nn.ReLU(inplace=True))
    model = nn.Sequential(stem, target, nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 7))
    model.eval()
    assert all(p.requires_grad for p in model.parameters())

    with GradCAM(model, target) as gradcam:
        logits = gradcam.forward(torch.rand(2, 3, 16, 16))
        names = _graph_node_names(logits)
        cams = gradcam.cams(logits, [0, 3])

    assert "ConvolutionBackward0" not in names  # graph starts at the target layer's output
    assert all(p.grad is None for p in model.parameters())
    assert cams.shape == (2, 16, 16)


def test_hook_is_registered_once_reused_and_removed(region_net: nn.Module, hook_count) -> None:
    before = hook_count(region_net)
    gradcam = GradCAM(region_net, region_net.features)
    assert hook_count(region_net) == before + 1
    for _ in range(20):
        gradcam(input_with_patches((RED_INPUT_BOX, RED)))
    assert hook_count(region_net) == before + 1
    gradcam.close()
    assert hook_count(region_net) == before
    assert gradcam.closed
    with pytest.raises(RuntimeError, match="closed"):
        gradcam(input_with_patches())


def test_context_manager_removes_the_hook(region_net: nn.Module, hook_count) -> None:
    before = hook_count(region_net)
    with GradCAM(region_net, region_net.features):
        assert hook_count(region_net) == before + 1
    assert hook_count(region_net) == before


def test_plain_inference_keeps_nothing(region_net: nn.Module) -> None:
    with GradCAM(region_net, region_net.features) as gradcam:
        with torch.inference_mode():
            region_net(input_with_patches((RED_INPUT_BOX, RED)))
        # The hook was idle: there is no activation to explain.
        with pytest.raises(RuntimeError, match="forward"):
            gradcam.cams(torch.zeros(1, 7), [0])


def test_target_layer_must_belong_to_the_model(region_net: nn.Module) -> None:
    with pytest.raises(ValueError, match="submodule"):
        GradCAM(region_net, nn.Conv2d(3, 3, 1))


# -- placement on the photo (through the Classifier and its preprocessing) ---------


def _assert_peak_on(cam: np.ndarray, box: tuple[int, int, int, int], margin: int, min_mass: float) -> None:
    left, top, right, bottom = box
    row, col = argmax_2d(cam)
    assert left - margin <= col < right + margin, (row, col)
    assert top - margin <= row < bottom + margin, (row, col)
    inside = cam[max(top - margin, 0) : bottom + margin, max(left - margin, 0) : right + margin].sum()
    assert inside / cam.sum() > min_mass


def test_landscape_photo_of_another_aspect_maps_back_to_the_patch(region_classifier, make_photo) -> None:
    # 300x200 photo, 80x64 input: scale 0.32, the crop keeps x in [25, 275).
    patch = (200, 40, 240, 80)
    analysis = region_classifier.analyse(make_photo(300, 200, [(patch, RED)]))

    assert analysis.top_class == "akiec" and analysis.cam_class == "akiec"
    cam = analysis.cam
    assert cam is not None and cam.shape == (200, 300)
    # One feature cell is 12.5 photo pixels; bilinear spreading stays within one cell.
    _assert_peak_on(cam, patch, margin=13, min_mass=0.8)
    assert (cam[:, :25] == 0).all() and (cam[:, 275:] == 0).all()
    assert cam[:, 25:275].max() == pytest.approx(1.0)


def test_green_class_map_follows_the_green_patch(region_classifier, make_photo) -> None:
    red_patch, green_patch = (40, 30, 80, 70), (200, 120, 240, 160)
    photo = make_photo(300, 200, [(red_patch, RED), (green_patch, GREEN)])
    analysis = region_classifier.analyse(photo, target_class="bcc")
    assert analysis.cam_class == "bcc"
    _assert_peak_on(analysis.cam, green_patch, margin=13, min_mass=0.8)
    left, top, right, bottom = red_patch
    assert analysis.cam[top:bottom, left:right].max() == 0.0


def test_portrait_photo_is_rotated_for_a_landscape_input_and_the_map_rotated_back(
    region_classifier, make_photo
) -> None:
    patch = (30, 200, 70, 240)  # lower left of a 200x300 portrait photo
    analysis = region_classifier.analyse(make_photo(200, 300, [(patch, RED)]))
    assert analysis.cam is not None and analysis.cam.shape == (300, 200)
    _assert_peak_on(analysis.cam, patch, margin=13, min_mass=0.8)
    # Rotated, the crop keeps rows [25, 275) of the photo.
    assert (analysis.cam[:25] == 0).all() and (analysis.cam[275:] == 0).all()


def test_exif_orientation_is_undone_before_the_map_is_placed(region_classifier, make_photo, make_jpeg) -> None:
    from PIL import Image

    upright = make_photo(200, 300, [((120, 40, 160, 80), RED)])
    # Stored sideways with orientation 6 ("rotate 90° clockwise to display").
    stored = make_jpeg(upright.transpose(Image.Transpose.ROTATE_90), orientation=6)
    assert stored.size == (300, 200)
    analysis = region_classifier.analyse(stored)
    assert analysis.cam is not None and analysis.cam.shape == (300, 200)
    _assert_peak_on(analysis.cam, (120, 40, 160, 80), margin=13, min_mass=0.8)


def test_big_jpeg_is_decoded_small_and_the_map_still_lands_on_the_patch(
    region_classifier, make_photo, make_jpeg
) -> None:
    patch = (2600, 600, 3100, 1100)
    photo = make_jpeg(make_photo(4032, 3024, [(patch, RED)]), quality=85)
    analysis = region_classifier.analyse(photo)
    assert photo.size[0] < 4032  # decoded in draft mode (in place, like Image.thumbnail)
    assert analysis.cam is not None and analysis.cam.shape == (3024, 4032)
    _assert_peak_on(analysis.cam, patch, margin=200, min_mass=0.8)


# How a phone stores an upright photo for each EXIF orientation (PIL's inverse of exif_transpose).
STORED_AS = {3: "ROTATE_180", 6: "ROTATE_90", 8: "ROTATE_270"}


@pytest.mark.parametrize("orientation", sorted(STORED_AS))
def test_big_sideways_phone_jpeg_maps_back_through_draft_exif_and_rotation(
    region_classifier, make_photo, make_jpeg, orientation: int
) -> None:
    from PIL import Image

    patch = (600, 2600, 1100, 3100)  # lower left of an upright 3024x4032 portrait photo
    upright = make_photo(3024, 4032, [(patch, RED)])
    stored = make_jpeg(upright.transpose(getattr(Image.Transpose, STORED_AS[orientation])), orientation, quality=85)
    analysis = region_classifier.analyse(stored)
    assert analysis.cam is not None and analysis.cam.shape == (4032, 3024)
    _assert_peak_on(analysis.cam, patch, margin=200, min_mass=0.8)
