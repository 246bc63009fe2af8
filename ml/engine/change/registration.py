"""Registration of two photos of one lesion from the skin around it: a similarity transform and how much to trust it.

The lesion itself may have grown or changed colour, so it cannot tell zoom from growth: the
transform is estimated from the skin only. Both photos are reduced to at most ``WORK_SIDE``
pixels, contrast-equalised (CLAHE) and searched for SIFT keypoints with a low contrast
threshold (dermoscopic skin has little texture; the default 0.04 finds too few points on most
follow-ups), outside the lesion outline dilated by a margin. Matches pass Lowe's ratio test,
then RANSAC fits a similarity (rotation, uniform scale, shift: ``cv2.estimateAffinePartial2D``).
A registration is trusted ("aligned") only with enough inliers, a fair inlier share, inliers
spread over the photo and a plausible scale; otherwise it is "failed" with the reason, and
nothing downstream treats the two photos as comparable by their pixels.
When both lesions kept out leave too little skin, the search is tried again keeping out one
photo's lesion only (``ONE_SIDED``).

The transform maps pixels of the *moving* photo (the newer one) onto the *reference* photo
(the baseline, or the previous photo), in the photos' own pixel coordinates.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

ALIGNED = "aligned"
FAILED = "failed"
NOT_NEEDED = "not_needed"  # the photo is its own reference (the baseline)

WORK_SIDE = 800  # longest side the photos are registered at (smaller photos are enlarged to it)
SIFT_CONTRAST_THRESHOLDS = (0.01, 0.004, 0.002)  # the next is tried while too few points are found
MIN_KEYPOINTS = 40
RATIO_TEST = 0.8
RANSAC_THRESHOLD = 0.006  # of the working diagonal
MIN_INLIERS = 15
MIN_INLIER_SHARE = 0.2
MIN_SPREAD = 0.03  # share of the photo covered by the inliers' convex hull
SCALE_RANGE = (0.4, 2.5)
# The outline is dilated by this share of the lesion's diameter before it is kept out of the search;
# when too little skin is left (a lesion filling the photo), the next, smaller margin is tried.
LESION_MARGINS = (0.15, 0.06)
# When both outlines kept out leave too little skin to align (a grown lesion filling the newer photo, or
# an outline run wild over a dark vignette), the search is tried again keeping out one photo's lesion
# only, at the wider margin: the reference's first, then the newer photo's. That is safe against the
# lesion steering the transform: whatever the newer photo shows of the lesion (grown or not) comes from
# the lesion's area of the older photo, so with either photo's lesion kept out it has nothing to match.
ONE_SIDED = ("reference", "moving")
# At least this many working pixels around the outline stay out of the search whatever the lesion's size:
# a keypoint's descriptor reaches a few times its scale, and one on the lesion's edge would let the
# lesion itself (which may have grown) steer the transform.
MIN_MARGIN_PX = 10

Matrix = tuple[tuple[float, float, float], tuple[float, float, float]]
BoolMask = npt.NDArray[np.bool_]
RGB = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Registration:
    """How a moving photo maps onto its reference photo (``matrix``: 2 x 3, moving pixels -> reference pixels)."""

    status: str
    matrix: Matrix | None = None
    quality: float = 0.0  # 0 (nothing to trust) .. 1
    inliers: int = 0
    matches: int = 0
    spread: float = 0.0
    reason: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def aligned(self) -> bool:
        return self.status in (ALIGNED, NOT_NEEDED)

    @property
    def scale(self) -> float | None:
        """Reference pixels per moving pixel (> 1: the moving photo shows the lesion smaller, e.g. zoomed out)."""
        if self.matrix is None:
            return None
        (a, b, _), _ = self.matrix
        return math.hypot(a, b)

    @property
    def rotation_deg(self) -> float | None:
        """Counter-clockwise rotation (degrees, image axes) that turns the moving photo onto the reference."""
        if self.matrix is None:
            return None
        # cv2's partial affine is [[s cos t, -s sin t, tx], [s sin t, s cos t, ty]].
        return math.degrees(math.atan2(self.matrix[1][0], self.matrix[0][0]))

    def apply(self, points: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Moving-photo points (N, 2) in the reference photo's pixels."""
        if self.matrix is None:
            raise ValueError(f"a {self.status} registration has no transform")
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        m = np.asarray(self.matrix, dtype=np.float64)
        return pts @ m[:, :2].T + m[:, 2]

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "matrix": [list(row) for row in self.matrix] if self.matrix is not None else None,
            "quality": round(self.quality, 4),
            "scale": None if self.scale is None else round(self.scale, 5),
            "rotation_deg": None if self.rotation_deg is None else round(self.rotation_deg, 2),
            "inliers": self.inliers,
            "matches": self.matches,
            "spread": round(self.spread, 4),
            "reason": self.reason,
        }


IDENTITY: Matrix = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0))


def not_needed() -> Registration:
    """The reference photo itself: identity, full trust."""
    return Registration(status=NOT_NEEDED, matrix=IDENTITY, quality=1.0, reason="the reference photo itself")


def _work_image(
    rgb: RGB, mask: BoolMask | None, margin_share: float
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8], float]:
    """Grey working copy (CLAHE), the mask of where keypoints may lie (skin), and working px per photo px."""
    height, width = rgb.shape[:2]
    # One working size whatever the photo's: SIFT's scales then mean the same in both photos, and a
    # small photo (a 200x150 working copy) gets enough pixels for its skin texture to be found.
    factor = WORK_SIDE / max(height, width)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    interpolation = cv2.INTER_AREA if factor < 1.0 else cv2.INTER_CUBIC
    small = cv2.resize(rgb, size, interpolation=interpolation) if factor != 1.0 else np.ascontiguousarray(rgb)
    plain = np.asarray(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), dtype=np.uint8)
    grey = np.asarray(cv2.createCLAHE(clipLimit=3.0, tileGridSize=(8, 8)).apply(plain), dtype=np.uint8)
    allowed = np.full(grey.shape, 255, dtype=np.uint8)
    # Very dark pixels (a dermatoscope's vignette, hair shadows at the rim) carry no skin texture.
    allowed[plain < 20] = 0
    if mask is not None and mask.any():
        lesion = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
        ys, xs = np.nonzero(lesion)
        diameter = max(xs.max() - xs.min(), ys.max() - ys.min()) + 1
        margin = max(MIN_MARGIN_PX, round(margin_share * diameter))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
        allowed[cv2.dilate(lesion, kernel) > 0] = 0
    return grey, allowed, float(factor)


def _features(grey: npt.NDArray[np.uint8], allowed: npt.NDArray[np.uint8]) -> tuple[Any, Any]:
    keypoints: Any = ()
    descriptors: Any = None
    for threshold in SIFT_CONTRAST_THRESHOLDS:
        sift = cv2.SIFT_create(nfeatures=3000, contrastThreshold=threshold)  # type: ignore[attr-defined]  # cv2's stubs miss it
        keypoints, descriptors = sift.detectAndCompute(grey, allowed)
        if len(keypoints) >= MIN_KEYPOINTS:
            break
    return keypoints, descriptors


def _spread(points: npt.NDArray[np.float64], shape: tuple[int, ...]) -> float:
    if len(points) < 3:
        return 0.0
    hull = cv2.convexHull(points.astype(np.float32))
    return float(cv2.contourArea(hull)) / float(shape[0] * shape[1])


def register(
    moving: RGB,
    reference: RGB,
    *,
    moving_mask: BoolMask | None = None,
    reference_mask: BoolMask | None = None,
) -> Registration:
    """The similarity transform from ``moving`` onto ``reference`` (RGB uint8 photos), from the skin around the lesion.

    ``*_mask``: the lesion outline of each photo at its resolution (True = lesion), kept out of the search.
    """
    started = time.perf_counter()
    moving, reference = np.asarray(moving), np.asarray(reference)
    attempts: list[tuple[BoolMask | None, BoolMask | None, float]] = [
        (moving_mask, reference_mask, margin) for margin in LESION_MARGINS
    ]
    if moving_mask is not None and reference_mask is not None:
        attempts += [
            (None, reference_mask, LESION_MARGINS[0]) if side == "reference" else (moving_mask, None, LESION_MARGINS[0])
            for side in ONE_SIDED
        ]
    first: Registration | None = None
    result = Registration(status=FAILED, reason="no photo")
    for moving_keep_out, reference_keep_out, margin in attempts:
        result = _register_once(moving, reference, moving_keep_out, reference_keep_out, margin)
        if result.status == ALIGNED:
            break
        first = first or result
    else:
        # None aligned: the first attempt's reason (both lesions kept out) says best why.
        result = first or result
    timings = {**result.timings, "total": (time.perf_counter() - started) * 1000}
    return dataclasses.replace(result, timings=timings)


def _register_once(
    moving: RGB, reference: RGB, moving_mask: BoolMask | None, reference_mask: BoolMask | None, margin: float
) -> Registration:
    started = time.perf_counter()
    grey_m, allowed_m, fm = _work_image(moving, moving_mask, margin)
    grey_r, allowed_r, fr = _work_image(reference, reference_mask, margin)
    kp_m, des_m = _features(grey_m, allowed_m)
    kp_r, des_r = _features(grey_r, allowed_r)
    timings = {"features": (time.perf_counter() - started) * 1000}
    if des_m is None or des_r is None or len(kp_m) < 3 or len(kp_r) < 3:
        return Registration(status=FAILED, reason="too few skin features to align the photos", timings=timings)
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(des_m, des_r, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO_TEST * p[1].distance]
    if len(good) < MIN_INLIERS:
        return Registration(
            status=FAILED, matches=len(good), reason=f"only {len(good)} skin features match", timings=timings
        )
    src = np.array([kp_m[m.queryIdx].pt for m in good], dtype=np.float64)
    dst = np.array([kp_r[m.trainIdx].pt for m in good], dtype=np.float64)
    diagonal = math.hypot(*grey_r.shape)
    matrix, inlier_mask = cv2.estimateAffinePartial2D(
        src,
        dst,
        method=cv2.RANSAC,
        ransacReprojThreshold=max(1.5, RANSAC_THRESHOLD * diagonal),
        maxIters=5000,
        confidence=0.995,
        refineIters=20,
    )
    if matrix is None or inlier_mask is None:
        return Registration(status=FAILED, matches=len(good), reason="no consistent transform", timings=timings)
    inlier = inlier_mask.ravel().astype(bool)
    inliers = int(inlier.sum())
    share = inliers / len(good)
    spread = min(_spread(src[inlier], grey_m.shape), _spread(dst[inlier], grey_r.shape))
    # Back to the photos' own pixels: reference = S_r^-1 . M . S_m (S: photo -> working pixels).
    full = matrix.astype(np.float64).copy()
    full[:, :2] *= fm / fr
    full[:, 2] /= fr
    result = Registration(
        status=ALIGNED,
        matrix=(
            (float(full[0, 0]), float(full[0, 1]), float(full[0, 2])),
            (float(full[1, 0]), float(full[1, 1]), float(full[1, 2])),
        ),
        quality=float(min(1.0, share / 0.5) * min(1.0, inliers / 40.0) * min(1.0, spread / 0.25)),
        inliers=inliers,
        matches=len(good),
        spread=spread,
        timings=timings,
    )
    scale = result.scale or 0.0
    problems = []
    if inliers < MIN_INLIERS:
        problems.append(f"only {inliers} consistent skin features")
    if share < MIN_INLIER_SHARE:
        problems.append(f"only {100 * share:.0f}% of the matches agree")
    if spread < MIN_SPREAD:
        problems.append("the matching skin covers too little of the photo")
    if not SCALE_RANGE[0] <= scale <= SCALE_RANGE[1]:
        problems.append(f"implausible zoom ({scale:.2f}x)")
    if problems:
        return Registration(
            status=FAILED,
            matrix=result.matrix,
            quality=result.quality,
            inliers=inliers,
            matches=len(good),
            spread=spread,
            reason="; ".join(problems),
            timings=timings,
        )
    return result


def _as_matrix(m: npt.NDArray[np.float64]) -> Matrix:
    return (float(m[0, 0]), float(m[0, 1]), float(m[0, 2])), (float(m[1, 0]), float(m[1, 1]), float(m[1, 2]))


def warp_to_reference(
    moving: RGB, registration: Registration, reference_size: tuple[int, int], fill: RGB | None = None
) -> RGB:
    """The moving photo resampled into the reference photo's frame (``reference_size`` = (width, height)).

    Where the moving photo does not reach, the result is black, or ``fill``'s pixels (the reference
    photo, of that size): a segmenter outlining the warped photo then sees skin there, not a frame.
    """
    if registration.matrix is None:
        raise ValueError(f"a {registration.status} registration has no transform")
    m = np.asarray(registration.matrix, dtype=np.float64)
    warped = cv2.warpAffine(
        np.asarray(moving), m, reference_size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    if fill is not None:
        covered = cv2.warpAffine(
            np.full(np.asarray(moving).shape[:2], 255, np.uint8), m, reference_size, flags=cv2.INTER_NEAREST
        )
        warped = np.where(covered[..., None] > 0, warped, np.asarray(fill))
    return np.asarray(warped, dtype=np.uint8)


def corner_error(registration: Registration, truth: Matrix, size: tuple[int, int]) -> float:
    """Mean distance (reference pixels) of the moving photo's corners mapped by ``registration`` and by ``truth``."""
    width, height = size
    corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float64)
    true = Registration(status=ALIGNED, matrix=truth)
    return float(np.linalg.norm(registration.apply(corners) - true.apply(corners), axis=1).mean())


__all__ = [
    "ALIGNED",
    "FAILED",
    "IDENTITY",
    "NOT_NEEDED",
    "Registration",
    "corner_error",
    "not_needed",
    "register",
    "warp_to_reference",
]
