"""What changed between two measured photos of one lesion, in one frame: size, diameter, asymmetry, colours.

Sizes are put in one frame before they are compared, never taken as shot:

- best, the newer photo warped into the reference photo's frame by the registration and outlined
  there (``after_in_reference_frame``): both outlines then come from the same framing, so zoom
  and rotation cannot change what the segmenter sees (on the synthetic follow-up set this halves
  the false growth flags of measuring each photo as shot);
- else in mm when both photos carry a pixel size (``mm_per_pixel``);
- else through the registration: the newer photo's pixel sizes times the registration's scale
  (reference pixels per moving pixel) are in the reference photo's pixels;
- else the sizes do not compare ("could not align the photos and no pixel size"), and nothing
  downstream may raise a growth flag from them.

Photos of different kinds (a dermoscopic photo and a clinical close-up) never compare: neither
their sizes nor their colours mean the same. Colours and asymmetry do not depend on the scale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ml.engine.change.registration import Registration

MM = "mm"
ALIGNED_FRAME = "aligned"  # the newer photo outlined in the reference photo's frame
SCALED = "scaled"  # the newer photo's own outline, scaled by the registration


class Measured(Protocol):
    """What a comparison reads of an outline's measurements (photo pixels; colours with their shares)."""

    @property
    def area_px(self) -> float: ...

    @property
    def diameter_px(self) -> float: ...

    @property
    def asymmetry(self) -> float: ...

    @property
    def colours(self) -> Sequence[str]: ...

    @property
    def colour_shares(self) -> Mapping[str, float]: ...


@dataclass(frozen=True)
class Change:
    """From ``before`` (the reference photo) to ``after`` (the newer one)."""

    comparable: bool  # whether the sizes compare
    reason: str = ""  # why not, when they do not
    basis: str = ""  # "mm" or "aligned": how the sizes were put in one frame
    area_ratio: float | None = None  # after / before (1.3 = grew by 30%)
    diameter_ratio: float | None = None
    asymmetry_delta: float | None = None
    new_colours: tuple[str, ...] = ()  # present after (at the share asked for), absent before
    lost_colours: tuple[str, ...] = ()
    colours_comparable: bool = True
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def area_change(self) -> float | None:
        """after / before − 1 (0.3 = grew by 30%)."""
        return None if self.area_ratio is None else self.area_ratio - 1.0

    def grew(self, threshold: float, tolerance: float = 1e-9) -> bool:
        """Whether the area grew by more than ``threshold`` (a share: 0.2 = 20%), as comparable sizes show."""
        change = self.area_change
        return self.comparable and change is not None and change > threshold + tolerance


def compare(
    before: Measured,
    after: Measured,
    *,
    registration: Registration | None,
    same_kind: bool = True,
    before_mm_per_pixel: float | None = None,
    after_mm_per_pixel: float | None = None,
    new_colour_min_share: float = 0.0,
    after_in_reference_frame: bool = False,
) -> Change:
    """How the lesion changed from ``before`` to ``after``; see the module docstring for when sizes compare."""
    if not same_kind:
        return Change(
            comparable=False,
            reason="the photos are of different kinds (dermoscopic and clinical do not compare)",
            colours_comparable=False,
        )
    # New: present now (at least ``new_colour_min_share`` of the lesion) and clearly absent before
    # (under half of that share), so a colour hovering at the presence threshold does not flicker.
    absent_below = new_colour_min_share / 2
    new = tuple(
        c
        for c in after.colours
        if after.colour_shares.get(c, 0.0) >= new_colour_min_share
        and c not in before.colours
        and before.colour_shares.get(c, 0.0) < absent_below
    )
    lost = tuple(c for c in before.colours if c not in after.colours)
    comparable, reason, basis, linear = _frame(
        before, registration, before_mm_per_pixel, after_mm_per_pixel, after_in_reference_frame
    )
    return Change(
        comparable=comparable,
        reason=reason,
        basis=basis,
        area_ratio=after.area_px * linear * linear / before.area_px if comparable else None,
        diameter_ratio=after.diameter_px * linear / before.diameter_px if comparable else None,
        asymmetry_delta=round(after.asymmetry - before.asymmetry, 4) + 0.0,
        new_colours=new,
        lost_colours=lost,
    )


def _frame(
    before: Measured,
    registration: Registration | None,
    before_mm_per_pixel: float | None,
    after_mm_per_pixel: float | None,
    after_in_reference_frame: bool,
) -> tuple[bool, str, str, float]:
    """(comparable, why not, basis, the newer photo's pixels in the reference frame per pixel)."""
    if before.area_px <= 0 or before.diameter_px <= 0:
        return False, "the earlier outline has no size", "", 1.0
    aligned = registration is not None and registration.aligned and registration.scale is not None
    if after_in_reference_frame and aligned:
        return True, "", ALIGNED_FRAME, 1.0
    if before_mm_per_pixel and after_mm_per_pixel:
        return True, "", MM, after_mm_per_pixel / before_mm_per_pixel
    if aligned and registration is not None and registration.scale:
        return True, "", SCALED, registration.scale
    reason = "could not align the photos and no pixel size"
    if registration is not None and registration.reason:
        reason += f" ({registration.reason})"
    return False, reason, "", 1.0


__all__ = ["ALIGNED_FRAME", "MM", "SCALED", "Change", "Measured", "compare"]
