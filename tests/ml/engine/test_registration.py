"""Registration from the skin: a re-photographed lesion is found again, unrelated photos are refused."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from ml.engine.change.registration import (
    ALIGNED,
    FAILED,
    LESION_MARGINS,
    NOT_NEEDED,
    Registration,
    corner_error,
    not_needed,
    register,
    warp_to_reference,
)
from ml.engine.change.registration import _register_once as _register_once  # the one attempt, for the fallback's test

SIZE = (480, 360)  # width, height


def skin(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A skin-like photo (pink, textured at several scales) with a dark lesion, and the lesion's mask."""
    rng = np.random.default_rng(seed)
    width, height = SIZE
    base = np.full((height, width, 3), (205, 160, 150), dtype=np.float32)
    for sigma, amplitude in ((1.0, 18), (4.0, 25), (12.0, 20)):
        noise = cv2.GaussianBlur(rng.normal(0, 1, (height, width)).astype(np.float32), (0, 0), sigma)
        base += (amplitude * noise / (noise.std() + 1e-6))[..., None]
    mask = np.zeros((height, width), dtype=np.uint8)
    cv2.ellipse(mask, (width // 2 + 10, height // 2 - 5), (60, 45), 20, 0, 360, 1, -1)
    lesion = mask.astype(bool)
    base[lesion] = base[lesion] * 0.45 + np.array((70, 40, 30)) * 0.55
    return np.clip(base, 0, 255).astype(np.uint8), lesion


def move(rgb: np.ndarray, mask: np.ndarray, angle: float, zoom: float, shift: tuple[float, float]):
    width, height = SIZE
    forward = cv2.getRotationMatrix2D((width / 2, height / 2), angle, zoom)
    forward[:, 2] += shift
    moved = cv2.warpAffine(rgb, forward, SIZE, borderMode=cv2.BORDER_REFLECT)
    moved_mask = cv2.warpAffine(mask.astype(np.uint8), forward, SIZE, flags=cv2.INTER_NEAREST) > 0
    return moved, moved_mask, cv2.invertAffineTransform(forward)


@pytest.mark.parametrize(("angle", "zoom"), [(25.0, 1.0), (140.0, 0.8), (-60.0, 1.3)])
def test_a_rephotographed_lesion_is_aligned_from_the_skin(angle: float, zoom: float) -> None:
    photo, mask = skin(1)
    moved, moved_mask, truth = move(photo, mask, angle, zoom, (12.0, -9.0))
    moved = np.clip(moved.astype(np.float32) * (1.1, 0.95, 1.0), 0, 255).astype(np.uint8)  # other white balance

    result = register(moved, photo, moving_mask=moved_mask, reference_mask=mask)

    assert result.status == ALIGNED, result.reason
    assert result.scale == pytest.approx(1 / zoom, rel=0.01)
    assert corner_error(result, tuple(map(tuple, truth)), SIZE) < 0.01 * math.hypot(*SIZE)
    assert 0.0 < result.quality <= 1.0
    # The transform turns the moving photo back onto the reference.
    back = warp_to_reference(moved, result, SIZE)
    seen = back.max(axis=2) > 0  # where the moving photo covers the reference
    assert seen.mean() > 0.3
    assert np.abs(back[seen].astype(int) - photo[seen].astype(int)).mean() < 20  # white balance differs
    assert np.abs(back[seen].astype(int) - np.roll(photo, 8, axis=1)[seen].astype(int)).mean() > 20


def test_growth_of_the_lesion_is_not_taken_for_zoom() -> None:
    photo, mask = skin(2)
    grown_mask = np.zeros(mask.shape, np.uint8)
    cv2.ellipse(grown_mask, (SIZE[0] // 2 + 10, SIZE[1] // 2 - 5), (80, 60), 20, 0, 360, 1, -1)
    grown = photo.copy()
    grown[grown_mask.astype(bool)] = photo[mask][0]  # the lesion spreads into the skin around it
    moved, moved_mask, _ = move(grown, grown_mask.astype(bool), 10.0, 1.0, (0.0, 0.0))

    result = register(moved, photo, moving_mask=moved_mask, reference_mask=mask)

    assert result.status == ALIGNED
    assert result.scale == pytest.approx(1.0, abs=0.01)  # the lesion grew; the skin did not move


def test_an_outline_run_wild_in_the_newer_photo_still_aligns_from_the_older_photos_skin() -> None:
    # The newer photo's outline covers most of it (as over a dermatoscope's dark vignette): with both
    # lesions kept out too little skin is left, so only the older photo's lesion is kept out; the lesion
    # grew, and what the newer photo shows of it still cannot steer the transform.
    photo, mask = skin(5)
    grown_mask = np.zeros(mask.shape, np.uint8)
    cv2.ellipse(grown_mask, (SIZE[0] // 2 + 10, SIZE[1] // 2 - 5), (80, 60), 20, 0, 360, 1, -1)
    grown = photo.copy()
    grown[grown_mask.astype(bool)] = photo[mask][0]
    moved, _, truth = move(grown, grown_mask.astype(bool), 150.0, 0.8, (6.0, 4.0))
    wild = np.zeros(mask.shape, np.uint8)
    cv2.ellipse(wild, (SIZE[0] // 2, SIZE[1] // 2), (230, 175), 0, 0, 360, 1, -1)

    both = _register_once(moved, photo, wild.astype(bool), mask, LESION_MARGINS[-1])
    result = register(moved, photo, moving_mask=wild.astype(bool), reference_mask=mask)

    assert both.status == FAILED  # both lesions kept out, even at the narrower margin
    assert result.status == ALIGNED, result.reason
    assert result.scale == pytest.approx(1 / 0.8, rel=0.01)
    assert corner_error(result, tuple(map(tuple, truth)), SIZE) < 0.01 * math.hypot(*SIZE)


def test_photos_of_different_skin_do_not_align() -> None:
    first, first_mask = skin(3)
    second, second_mask = skin(4)
    result = register(second, first, moving_mask=second_mask, reference_mask=first_mask)
    assert result.status == FAILED
    assert result.reason
    assert not result.aligned


def test_a_photo_without_texture_cannot_be_aligned() -> None:
    flat = np.full((SIZE[1], SIZE[0], 3), 180, dtype=np.uint8)
    result = register(flat, flat)
    assert result.status == FAILED
    assert "feature" in result.reason


def test_the_reference_itself_needs_no_alignment_and_round_trips_to_json() -> None:
    result = not_needed()
    assert result.status == NOT_NEEDED and result.aligned and result.scale == 1.0 and result.rotation_deg == 0.0
    data = Registration(status=ALIGNED, matrix=((0.0, -2.0, 5.0), (2.0, 0.0, 1.0))).to_dict()
    assert data["scale"] == 2.0 and data["rotation_deg"] == 90.0 and data["matrix"][0] == [0.0, -2.0, 5.0]
    assert Registration(status=ALIGNED, matrix=((0.0, -2.0, 5.0), (2.0, 0.0, 1.0))).apply([[1, 0]]).tolist() == [
        [5.0, 3.0]
    ]
