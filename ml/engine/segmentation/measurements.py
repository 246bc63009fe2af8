"""Lesion measurements from a binary mask: size, diameter, asymmetry, border and ABCD colours.

Pure numpy / OpenCV / scikit-image functions on a boolean (H, W) mask and, for colours, the
RGB ``uint8`` (H, W, 3) photo it outlines. Lengths are in the mask's pixels times ``scale``
(photo pixels per mask pixel, for masks measured smaller than the photo); with ``mm_per_pixel``
(millimetres per photo pixel) they are also given in mm. Without a pixel size the sizes are
relative (``*_fraction``) and the ``*_mm`` fields are None.

Definitions:
- area: the count of lesion pixels (``area_fraction``: share of the photo's pixels).
- boundary: the contour through the pixel edges (marching squares at 0.5), simplified by
  Douglas-Peucker with a one-pixel tolerance; the raw staircase would add about 5% to the
  length of any slanted or curved border.
- diameter: the largest Feret diameter (longest distance between two boundary points);
  ``width`` is the lesion's extent perpendicular to that diameter.
- asymmetry about an axis: the share of the lesion that does not overlap its mirror image
  about that principal axis (through the centroid): 0 for a symmetric shape, at most 1
  (for nearly isotropic shapes see ``mirror_asymmetry``).
- compactness: perimeter² / (4π·area); 1 for a disc, 4/π for a square, larger for ragged borders.
- colours: see ``classify_colours`` (white-balanced on the skin around the lesion, nearest
  reference colour in CIELAB, present from 5% of the lesion's pixels).
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

# The six colours of the ABCD rule as sRGB after white balance on the skin (which then looks
# like REFERENCE_SKIN). They were set in CIELAB (light brown L 58, dark brown L 35, black L 15,
# red L 47 a* 55 b* 5, white L 90, blue-grey b* -10) and checked on HAM10000 masks of the
# *training* split (naevi mostly light/dark brown; melanomas the most colours; vascular lesions
# red, blue-grey and black); a documented heuristic, not validated against annotated colours.
# Red sits at the purplish red of vascular lesions (hue about 5°): the earlier red (L 48, a* 48,
# b* 26) took the reddish brown of ordinary naevi for red (red in 72% of 60 training naevi, and in
# 53% of vascular lesions; now 0% and 68%).
ABCD_COLOURS: dict[str, tuple[int, int, int]] = {
    "light_brown": (186, 125, 91),
    "dark_brown": (118, 70, 51),
    "black": (44, 36, 34),
    "red": (193, 63, 105),
    "white": (234, 225, 219),
    "blue_grey": (114, 119, 136),
}
# Reddish browns (L 52 and L 40, a* 32-34, hue about 35°), common in naevi after white balance:
# further prototypes of the two browns, so that such pixels count as brown, not red.
BROWN_VARIANTS: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("light_brown", (188, 99, 81)),
    ("dark_brown", (149, 71, 60)),
)
# The skin around the lesion is scaled per channel to this colour (von Kries white balance), so
# dermatoscopes with other casts give the same colours. Lesion pixels nearest to it are skin-coloured
# and count as none of the six.
REFERENCE_SKIN: tuple[int, int, int] = (220, 182, 165)
WHITE_BALANCE_GAIN_LIMITS = (0.6, 1.6)
# A pixel further than this (CIE76 ΔE) from every reference colour counts as none of them.
MAX_COLOUR_DISTANCE = 25.0
# A colour is present when at least this share of the lesion's pixels has it.
MIN_COLOUR_SHARE = 0.05
BOUNDARY_TOLERANCE_PX = 1.0
# Below this ratio of second moments the principal axes are undefined (see ``mirror_asymmetry``).
ISOTROPIC_ELONGATION = 1.05
_LEVELS = 64  # colour lookup table resolution per channel


class EmptyMaskError(ValueError):
    """The mask holds no lesion pixel, so there is nothing to measure."""


@dataclass(frozen=True)
class LesionMeasurements:
    """What one lesion outline measures (pixels are the photo's; mm only with a pixel size)."""

    area_px: float
    area_fraction: float  # of the photo
    area_mm2: float | None
    diameter_px: float  # largest Feret diameter
    diameter_fraction: float  # of the photo's longer side
    diameter_mm: float | None
    width_px: float  # extent perpendicular to the diameter
    width_mm: float | None
    perimeter_px: float
    compactness: float  # perimeter² / (4π·area), 1 for a disc
    asymmetry_major_axis: float  # non-overlap when mirrored about the major principal axis
    asymmetry_minor_axis: float  # ... about the minor principal axis
    colours: tuple[str, ...]  # ABCD colours present, in ABCD_COLOURS order
    colour_shares: dict[str, float] = field(default_factory=dict)  # share of lesion pixels per colour
    mm_per_pixel: float | None = None

    @property
    def sizes_are_relative(self) -> bool:
        """True when no pixel size was known: compare ``*_fraction`` or pixels, not mm."""
        return self.mm_per_pixel is None

    @property
    def asymmetry(self) -> float:
        """The larger of the two axis asymmetries."""
        return max(self.asymmetry_major_axis, self.asymmetry_minor_axis)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (colours as a list)."""
        data = asdict(self)
        data["colours"] = list(self.colours)
        data["sizes_are_relative"] = self.sizes_are_relative
        data["asymmetry"] = self.asymmetry
        return data


def _as_mask(mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"expected a 2-D mask, got shape {mask.shape}")
    return mask.astype(bool, copy=False)


def boundary_contours(mask: np.ndarray, tolerance: float = BOUNDARY_TOLERANCE_PX) -> list[np.ndarray]:
    """Closed boundary polygons (x, y) through the pixel edges, staircase removed by Douglas-Peucker."""
    from skimage.measure import find_contours

    padded = np.pad(_as_mask(mask), 1).astype(np.float32)
    polygons = []
    for contour in find_contours(padded, 0.5):  # type: ignore[no-untyped-call]  # scikit-image: find_contours is unannotated
        points = (contour[:, ::-1] - 1.0).astype(np.float32).reshape(-1, 1, 2)  # (row, col) -> (x, y)
        simplified = cv2.approxPolyDP(points, tolerance, True) if tolerance > 0 else points
        polygons.append(simplified.reshape(-1, 2))
    return polygons


def perimeter(mask: np.ndarray, tolerance: float = BOUNDARY_TOLERANCE_PX) -> float:
    """Length of all boundaries of the mask (holes included), in pixels."""
    return float(sum(cv2.arcLength(p.reshape(-1, 1, 2), True) for p in boundary_contours(mask, tolerance)))


def feret(mask: np.ndarray) -> tuple[float, float, float]:
    """(largest Feret diameter, width perpendicular to it, its angle in radians) in pixels."""
    polygons = boundary_contours(mask, tolerance=0.0)
    if not polygons:
        raise EmptyMaskError("the mask holds no lesion pixel")
    hull = cv2.convexHull(np.concatenate(polygons).astype(np.float32)).reshape(-1, 2).astype(np.float64)
    if len(hull) < 2:
        return 0.0, 0.0, 0.0
    # The hull has few points (O(sqrt(area))): all pairs are cheap and exact.
    diffs = hull[:, None, :] - hull[None, :, :]
    lengths = np.hypot(diffs[..., 0], diffs[..., 1])
    i, j = np.unravel_index(int(np.argmax(lengths)), lengths.shape)
    direction = (hull[j] - hull[i]) / max(lengths[i, j], 1e-12)
    normal = np.array([-direction[1], direction[0]])
    across = hull @ normal
    angle = math.atan2(direction[1], direction[0])
    return float(lengths[i, j]), float(across.max() - across.min()), angle


def principal_axes(mask: np.ndarray) -> tuple[float, float, float, float]:
    """(centroid x, centroid y, angle of the major principal axis in radians, elongation) from image moments.

    Elongation is the ratio of the second-moment eigenvalues (major / minor, at least 1).
    """
    moments = cv2.moments(_as_mask(mask).astype(np.uint8), binaryImage=True)
    if moments["m00"] == 0:
        raise EmptyMaskError("the mask holds no lesion pixel")
    cx, cy = moments["m10"] / moments["m00"], moments["m01"] / moments["m00"]
    mu20, mu02, mu11 = moments["mu20"], moments["mu02"], moments["mu11"]
    angle = 0.5 * math.atan2(2 * mu11, mu20 - mu02)
    spread = math.hypot(mu20 - mu02, 2 * mu11)
    minor = max((mu20 + mu02 - spread) / 2, 1e-12)
    return cx, cy, angle, ((mu20 + mu02 + spread) / 2) / minor


def mirror_asymmetry(mask: np.ndarray) -> tuple[float, float]:
    """Non-overlap fractions of the lesion with its mirror image about the major and the minor axis.

    The axes are the principal axes through the centroid. When the shape is nearly isotropic
    (elongation below ``ISOTROPIC_ELONGATION``: discs, squares) those axes are undefined, and the
    perpendicular pair with the least total asymmetry (searched in 3° steps) is used instead.
    The mirror image is resampled bilinearly, so a digitised symmetric shape scores about 0.01.
    """
    mask = _as_mask(mask)
    cx, cy, angle, elongation = principal_axes(mask)
    ys, xs = np.nonzero(mask)
    radius = math.ceil(float(np.hypot(xs - cx, ys - cy).max())) + 2
    # A square canvas centred on the centroid holds the lesion and both of its mirror images.
    size = 2 * radius + 1
    canvas = np.zeros((size, size), dtype=np.float32)
    ox, oy = radius - round(cx), radius - round(cy)
    canvas[ys + oy, xs + ox] = 1.0
    centre = np.array([cx + ox, cy + oy])
    area = float(canvas.sum())

    def about(axis: float) -> float:
        c, s = math.cos(2 * axis), math.sin(2 * axis)
        reflect = np.array([[c, s], [s, -c]])  # reflection about a line through 0 at ``axis``
        matrix = np.hstack([reflect, (centre - reflect @ centre)[:, None]])
        mirrored = cv2.warpAffine(canvas, matrix, (size, size), flags=cv2.INTER_LINEAR)
        return max(0.0, 1.0 - float(np.minimum(canvas, mirrored).sum()) / area)

    if elongation < ISOTROPIC_ELONGATION:
        pairs = [(about(a), about(a + math.pi / 2)) for a in np.radians(np.arange(0.0, 90.0, 3.0))]
        return min(pairs, key=sum)
    return about(angle), about(angle + math.pi / 2)


def _rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.asarray(rgb, dtype=np.float32).reshape(-1, 1, 3) / 255.0, cv2.COLOR_RGB2Lab).reshape(-1, 3)


@functools.lru_cache(maxsize=4)
def _colour_table(max_distance: float) -> np.ndarray:
    """Index of the nearest ABCD colour (-1: skin-coloured or none) for every RGB at 6 bits per channel."""
    levels = (np.arange(_LEVELS) * (255 / (_LEVELS - 1))).astype(np.float32)
    r, g, b = np.meshgrid(levels, levels, levels, indexing="ij")
    lab = _rgb_to_lab(np.stack([r, g, b], axis=-1).reshape(-1, 3))
    names = list(ABCD_COLOURS)
    prototypes = [*ABCD_COLOURS.items(), *BROWN_VARIANTS]
    references = _rgb_to_lab(np.array([rgb for _, rgb in prototypes] + [REFERENCE_SKIN], dtype=np.float32))
    colour_of = np.array([names.index(name) for name, _ in prototypes] + [-1], dtype=np.int8)
    distances = np.linalg.norm(lab[:, None, :] - references[None, :, :], axis=2)
    table: npt.NDArray[np.int8] = colour_of[distances.argmin(axis=1)]
    table[distances.min(axis=1) > max_distance] = -1
    return table


def skin_white_balance(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-channel gains that turn the median skin colour in a ring around the lesion into ``REFERENCE_SKIN``.

    The ring is about a tenth of the lesion's size wide; gains are clipped to
    ``WHITE_BALANCE_GAIN_LIMITS``, and are 1 when no skin is visible around the lesion.
    """
    mask = _as_mask(mask)
    width = max(3, round(0.1 * math.sqrt(float(np.count_nonzero(mask)))))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1))
    ring = (cv2.dilate(mask.astype(np.uint8), kernel) > 0) & ~mask
    if np.count_nonzero(ring) < 20:
        return np.ones(3, dtype=np.float32)
    skin = np.median(np.asarray(rgb)[ring].astype(np.float32), axis=0)
    gains: npt.NDArray[np.float32] = np.asarray(REFERENCE_SKIN, dtype=np.float32) / np.maximum(skin, 1.0)
    return np.clip(gains, *WHITE_BALANCE_GAIN_LIMITS).astype(np.float32)


def classify_colours(
    rgb: np.ndarray,
    mask: np.ndarray,
    *,
    min_share: float = MIN_COLOUR_SHARE,
    max_distance: float = MAX_COLOUR_DISTANCE,
    white_balance: bool = True,
) -> tuple[tuple[str, ...], dict[str, float]]:
    """ABCD colours present in the lesion and the share of lesion pixels of each.

    The photo is first white-balanced on the skin around the lesion (``skin_white_balance``).
    Each lesion pixel then takes the nearest of the six reference colours (``ABCD_COLOURS``) or
    of the reference skin in CIELAB (CIE76 ΔE); skin-coloured pixels, and pixels further than
    ``max_distance`` from every reference, count as none. A colour is present when at least
    ``min_share`` of the lesion's pixels take it. Pixels are looked up at 6 bits per channel (a
    table computed once), which moves ΔE by about 1 at most.
    """
    mask = _as_mask(mask)
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[:2] != mask.shape or rgb.shape[2] != 3:
        raise ValueError(f"photo of shape {rgb.shape} does not fit the mask {mask.shape}")
    pixels = rgb[mask]
    if len(pixels) == 0:
        raise EmptyMaskError("the mask holds no lesion pixel")
    if white_balance:
        pixels = np.clip(pixels.astype(np.float32) * skin_white_balance(rgb, mask) + 0.5, 0, 255)
    # Round each 8-bit channel to the nearest of the table's 64 levels.
    q = ((pixels.astype(np.uint16) * (_LEVELS - 1) + 127) // 255).astype(np.int32)
    nearest = _colour_table(float(max_distance))[(q[:, 0] * _LEVELS + q[:, 1]) * _LEVELS + q[:, 2]]
    counts = np.bincount(nearest[nearest >= 0], minlength=len(ABCD_COLOURS))
    shares = {name: float(counts[i] / len(pixels)) for i, name in enumerate(ABCD_COLOURS)}
    present = tuple(name for name in ABCD_COLOURS if shares[name] >= min_share)
    return present, shares


def cam_mass_in_mask(cam: np.ndarray, mask: np.ndarray) -> float | None:
    """Share of a heatmap's mass (sum of its non-negative values) lying inside the mask.

    The mask is resized (nearest) to the heatmap's shape when they differ. None when the
    heatmap has no mass.
    """
    cam = np.clip(np.nan_to_num(np.asarray(cam, dtype=np.float64)), 0.0, None)
    mask = _as_mask(mask)
    if cam.ndim != 2:
        raise ValueError(f"expected a 2-D heatmap, got shape {cam.shape}")
    if mask.shape != cam.shape:
        mask = cv2.resize(mask.astype(np.uint8), (cam.shape[1], cam.shape[0]), interpolation=cv2.INTER_NEAREST) > 0
    total = float(cam.sum())
    if total <= 0:
        return None
    return float(cam[mask].sum() / total)


def measure_lesion(
    mask: np.ndarray,
    rgb: np.ndarray | None = None,
    *,
    mm_per_pixel: float | None = None,
    scale: float = 1.0,
) -> LesionMeasurements:
    """Measure the lesion outlined by ``mask``; see the module docstring for the definitions.

    ``rgb`` (the photo, any size; resized to the mask) gives the colours; ``scale`` is photo
    pixels per mask pixel; ``mm_per_pixel`` is millimetres per photo pixel.
    """
    mask = _as_mask(mask)
    if mm_per_pixel is not None and not mm_per_pixel > 0:
        raise ValueError("mm_per_pixel must be positive")
    if not scale > 0:
        raise ValueError("scale must be positive")
    count = int(np.count_nonzero(mask))
    if count == 0:
        raise EmptyMaskError("the mask holds no lesion pixel")
    height, width = mask.shape
    diameter, across, _ = feret(mask)
    length = perimeter(mask)
    major, minor = mirror_asymmetry(mask)
    colours: tuple[str, ...] = ()
    shares: dict[str, float] = {}
    if rgb is not None:
        rgb = np.asarray(rgb)
        if rgb.shape[:2] != mask.shape:
            rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
        colours, shares = classify_colours(rgb, mask)
    area_px = count * scale * scale
    diameter_px, width_px = diameter * scale, across * scale

    def mm(value: float, power: int = 1) -> float | None:
        return None if mm_per_pixel is None else value * mm_per_pixel**power

    return LesionMeasurements(
        area_px=area_px,
        area_fraction=count / mask.size,
        area_mm2=mm(area_px, 2),
        diameter_px=diameter_px,
        diameter_fraction=diameter / max(height, width),
        diameter_mm=mm(diameter_px),
        width_px=width_px,
        width_mm=mm(width_px),
        perimeter_px=length * scale,
        compactness=length * length / (4 * math.pi * count),
        asymmetry_major_axis=major,
        asymmetry_minor_axis=minor,
        colours=colours,
        colour_shares=shares,
        mm_per_pixel=mm_per_pixel,
    )


__all__ = [
    "ABCD_COLOURS",
    "BROWN_VARIANTS",
    "MAX_COLOUR_DISTANCE",
    "MIN_COLOUR_SHARE",
    "REFERENCE_SKIN",
    "EmptyMaskError",
    "LesionMeasurements",
    "boundary_contours",
    "cam_mass_in_mask",
    "classify_colours",
    "feret",
    "measure_lesion",
    "mirror_asymmetry",
    "perimeter",
    "principal_axes",
    "skin_white_balance",
]
