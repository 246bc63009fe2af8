"""Where a lesion is: a point on the front or back body figure, its side, and the ISIC site it falls in.

Pure functions over the figure drawn in ``templates/snippets/body_figures.html``. A point is
stored as (``map_x``, ``map_y``) in 0–1 on its view's figure, as the viewer sees it: x from the
figure's left edge, y from the top of the head. On the front (anterior) view the patient faces
the viewer, so the patient's left is on the viewer's right; on the back (posterior) view the
patient's left is on the viewer's left.
"""

from __future__ import annotations

from dataclasses import dataclass

ANTERIOR = "anterior"
POSTERIOR = "posterior"
LEFT = "left"
RIGHT = "right"
MIDLINE = "midline"

# The figure's box in its own drawing units: x from -FIGURE_HALF_WIDTH (viewer's left) to
# +FIGURE_HALF_WIDTH around the centre line, y from 0 (above the head) to FIGURE_HEIGHT (below the feet).
FIGURE_HALF_WIDTH = 70.0
FIGURE_HEIGHT = 300.0
# A point this close to the centre line (drawing units) is on the midline; a stated side is
# refused only when the point is clearly on the other one, further out than MIDLINE_BAND.
MIDLINE_BAND = 4.0
# A lesion said to be on the midline cannot be drawn further out than this.
MIDLINE_MAX_OFFSET = 12.0

# Where the figures sit in the SVG of the body map and of the lesion form's picker (both 380 x 338):
# each figure's centre line and its top.
SVG_FIGURE_X = {ANTERIOR: 95.0, POSTERIOR: 285.0}
SVG_TOP = 12.0


def svg_layout() -> dict[str, float]:
    """The numbers the picker's script needs to turn a click into a point (templates' ``figure``)."""
    return {
        "half_width": FIGURE_HALF_WIDTH,
        "height": FIGURE_HEIGHT,
        "top": SVG_TOP,
        "anterior_x": SVG_FIGURE_X[ANTERIOR],
        "posterior_x": SVG_FIGURE_X[POSTERIOR],
        "midline_band": MIDLINE_BAND,
    }


# ISIC anatom_site_general values (Lesion.BodySite's), spelt here so this module stays Django-free.
HEAD_NECK = "head/neck"
UPPER_EXTREMITY = "upper extremity"
LOWER_EXTREMITY = "lower extremity"
ANTERIOR_TORSO = "anterior torso"
POSTERIOR_TORSO = "posterior torso"
LATERAL_TORSO = "lateral torso"
PALMS_SOLES = "palms/soles"
ORAL_GENITAL = "oral/genital"

# Where a lesion known only by its ISIC site is drawn until it is placed: the middle of that
# region (on the patient's right for the paired limbs), in drawing units.
REGION_CENTRES: dict[str, tuple[str, float, float]] = {
    HEAD_NECK: (ANTERIOR, 0.0, 30.0),
    UPPER_EXTREMITY: (ANTERIOR, -47.0, 110.0),
    LOWER_EXTREMITY: (ANTERIOR, -18.0, 225.0),
    ANTERIOR_TORSO: (ANTERIOR, 0.0, 110.0),
    POSTERIOR_TORSO: (POSTERIOR, 0.0, 110.0),
    LATERAL_TORSO: (ANTERIOR, -31.0, 125.0),
    PALMS_SOLES: (ANTERIOR, -58.0, 170.0),
    ORAL_GENITAL: (ANTERIOR, 0.0, 166.0),
}


@dataclass(frozen=True)
class MapPoint:
    """A point on one view's figure, 0–1 each way."""

    view: str
    x: float
    y: float

    @property
    def units(self) -> tuple[float, float]:
        """The point in drawing units: x from the centre line, y from the top."""
        return (self.x * 2 - 1) * FIGURE_HALF_WIDTH, self.y * FIGURE_HEIGHT


def point_from_units(view: str, x: float, y: float) -> MapPoint:
    return MapPoint(view, round((x / FIGURE_HALF_WIDTH + 1) / 2, 4), round(y / FIGURE_HEIGHT, 4))


def region_centre(body_site: str, *, view: str | None = None, laterality: str = "") -> MapPoint:
    """Where a lesion with only an ISIC site is drawn (the anterior torso for an unknown site).

    On the given view where the site is seen from both sides (limbs, head, lateral torso), and on
    the patient's given side.
    """
    site_view, x, y = REGION_CENTRES.get(body_site, REGION_CENTRES[ANTERIOR_TORSO])
    if view in (ANTERIOR, POSTERIOR) and body_site not in (ANTERIOR_TORSO, POSTERIOR_TORSO):
        if view != site_view:
            x = -x  # the same side of the patient seen from the other side
        site_view = view
    point = point_from_units(site_view, x, y)
    if laterality == MIDLINE:
        return point_from_units(site_view, 0.0, y)
    if laterality in (LEFT, RIGHT) and laterality_of(point) not in (laterality, MIDLINE):
        return point_from_units(site_view, -x, y)
    return point


def laterality_of(point: MapPoint) -> str:
    """The patient's side the point is on: left, right or midline."""
    x, _ = point.units
    if abs(x) <= MIDLINE_BAND:
        return MIDLINE
    on_viewers_right = x > 0
    # Anterior: the patient's left is on the viewer's right; posterior: on the viewer's left.
    if point.view == ANTERIOR:
        return LEFT if on_viewers_right else RIGHT
    return RIGHT if on_viewers_right else LEFT


def laterality_conflict(point: MapPoint, laterality: str) -> str:
    """Why the stated side disagrees with the point ("" when it does not)."""
    x, _ = point.units
    side = laterality_of(point)
    if laterality in (LEFT, RIGHT) and side in (LEFT, RIGHT) and side != laterality:
        return (
            f"The point is on the patient's {side} side of the {point.view} figure, but the side given is "
            f"{laterality}. Place the point again or correct the side (on the front view the patient's left "
            "is on your right)."
        )
    if laterality == MIDLINE and abs(x) > MIDLINE_MAX_OFFSET:
        return f"The point is on the patient's {side} side, not on the midline."
    return ""


def body_site_of(point: MapPoint) -> str:
    """The ISIC general site the point falls in, on the figure as drawn."""
    x, y = point.units
    ax = abs(x)
    anterior = point.view == ANTERIOR
    if y < 56:
        return HEAD_NECK
    if (ax - 58) ** 2 + (y - 170) ** 2 <= 12**2:  # a hand: the palm faces front
        return PALMS_SOLES if anterior else UPPER_EXTREMITY
    if y >= 284:  # a foot: its sole is seen from behind
        return LOWER_EXTREMITY if anterior else PALMS_SOLES
    if ax >= 37 and y >= 60:
        return UPPER_EXTREMITY
    if anterior:
        if y < 160:
            return LATERAL_TORSO if ax >= 29 and y >= 100 else ANTERIOR_TORSO
        if y < 180 and ax <= 9:
            return ORAL_GENITAL
        return ANTERIOR_TORSO if y < 168 else LOWER_EXTREMITY
    if y < 160:
        return LATERAL_TORSO if ax >= 30 and y >= 100 else POSTERIOR_TORSO
    return POSTERIOR_TORSO if y < 180 else LOWER_EXTREMITY  # the buttocks, then the legs
