"""Where each of a patient's lesions goes on the body map: at its own point, numbered as in its record."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from followup.flags import LesionFollowUp
from lesions.body_sites import ANTERIOR, SVG_FIGURE_X, SVG_TOP, laterality_of

# Markers closer than this (SVG units) would hide each other: the later ones step around the first.
_CROWDED = 9.0
_SPREAD = [(9, 7), (-9, 7), (9, -7), (-9, -7), (0, 12), (0, -12), (13, 0), (-13, 0)]


@dataclass(frozen=True)
class BodyMarker:
    number: int
    lesion: Any
    view: str  # "anterior" or "posterior"
    x: float
    y: float
    followup: LesionFollowUp | None = None

    @property
    def flagged(self) -> bool:
        return self.followup is not None and self.followup.flagged

    @property
    def view_name(self) -> str:
        return "front" if self.view == ANTERIOR else "back"


def number_lesions(lesions: Iterable[Any]) -> None:
    """Give each of one patient's (loaded, complete) lesions its number, in the order they were added."""
    for number, lesion in enumerate(sorted(lesions, key=lambda lesion: (lesion.created_at, lesion.pk)), start=1):
        lesion.number = number


def svg_position(lesion: Any) -> tuple[str, float, float]:
    """The lesion's point in the map's SVG units: (view, x, y)."""
    point = lesion.map_point
    x, y = point.units
    return point.view, SVG_FIGURE_X[point.view] + x, SVG_TOP + y


def body_map_markers(
    followups: Sequence[LesionFollowUp] = (), *, lesions: Sequence[Any] | None = None
) -> list[BodyMarker]:
    """One marker per lesion at its point on its figure, with the lesion's own number."""
    rows: list[tuple[Any, LesionFollowUp | None]] = (
        [(f.lesion, f) for f in followups] if lesions is None else [(lesion, None) for lesion in lesions]
    )
    markers: list[BodyMarker] = []
    for lesion, followup in sorted(rows, key=lambda row: row[0].number):
        view, x, y = svg_position(lesion)
        for step, (dx, dy) in enumerate([(0, 0), *_SPREAD]):
            nx, ny = x + dx * (1 + step // 9), y + dy * (1 + step // 9)
            if not any(m.view == view and abs(m.x - nx) < _CROWDED and abs(m.y - ny) < _CROWDED for m in markers):
                x, y = nx, ny
                break
        markers.append(BodyMarker(number=lesion.number, lesion=lesion, view=view, x=x, y=y, followup=followup))
    return markers


def side_words(lesion: Any) -> str:
    """The patient's side as the point shows it, for a caption ("" on the midline)."""
    side = lesion.laterality or laterality_of(lesion.map_point)
    return "" if side == "midline" else f"patient's {side}"
