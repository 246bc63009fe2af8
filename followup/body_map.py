"""Where each of a patient's lesions goes on the body map of the patient page."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from followup.flags import LesionFollowUp

# Points on the outline drawn in templates/snippets/body_map.html, in one figure's coordinates
# (x from the figure's centre line, y from the top of its head; the patient faces the viewer
# in the front view, so the patient's right is on the left). Lesions at one site take the
# anchors in turn, then spread around them.
BODY_MAP_FIGURE_X = {"front": 95, "back": 285}
BODY_MAP_TOP = 12
BODY_SITE_ANCHORS: dict[str, tuple[str, list[tuple[float, float]]]] = {
    "head/neck": ("front", [(0, 24), (0, 50), (-9, 18), (9, 18)]),
    "upper extremity": ("front", [(-47, 110), (47, 110), (-56, 145), (56, 145)]),
    "lower extremity": ("front", [(-18, 215), (18, 215), (-17, 258), (17, 258)]),
    "anterior torso": ("front", [(0, 92), (-14, 118), (14, 118), (0, 142)]),
    "posterior torso": ("back", [(0, 92), (-14, 118), (14, 118), (0, 142)]),
    "lateral torso": ("front", [(-29, 120), (29, 120)]),
    "palms/soles": ("front", [(-58, 170), (58, 170), (-18, 292), (18, 292)]),
    "oral/genital": ("front", [(0, 166)]),
}
_SPREAD = [(0, 0), (9, 7), (-9, 7), (9, -7), (-9, -7), (0, 12), (0, -12), (13, 0), (-13, 0)]


@dataclass(frozen=True)
class BodyMarker:
    number: int
    followup: LesionFollowUp
    view: str  # "front" or "back"
    x: float
    y: float

    @property
    def flagged(self) -> bool:
        return self.followup.flagged


def body_map_markers(followups: Sequence[LesionFollowUp]) -> list[BodyMarker]:
    """One marker per lesion, numbered as listed, placed by its ISIC body site."""
    per_site: dict[str, int] = {}
    markers = []
    for number, followup in enumerate(followups, start=1):
        site = followup.lesion.body_site
        view, anchors = BODY_SITE_ANCHORS.get(site, BODY_SITE_ANCHORS["anterior torso"])
        n = per_site.get(site, 0)
        per_site[site] = n + 1
        ax, ay = anchors[n % len(anchors)]
        ring = n // len(anchors)
        dx, dy = _SPREAD[ring % len(_SPREAD)]
        scale = 1 + ring // len(_SPREAD)
        markers.append(
            BodyMarker(
                number=number,
                followup=followup,
                view=view,
                x=BODY_MAP_FIGURE_X[view] + ax + dx * scale,
                y=BODY_MAP_TOP + ay + dy * scale,
            )
        )
    return markers
