"""The body map of the patient and lesion pages (followup.body_map), over plain rows."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

from followup.body_map import body_map_markers, number_lesions, side_words
from lesions import body_sites
from lesions.body_sites import MapPoint


def lesion(pk: int, point: MapPoint, *, laterality: str = "", day: int = 1) -> SimpleNamespace:
    return SimpleNamespace(
        pk=pk, map_point=point, laterality=laterality, created_at=dt.datetime(2024, 1, day), number=None
    )


def followup(row: Any) -> SimpleNamespace:
    return SimpleNamespace(lesion=row, flagged=False, flags=[])


def test_lesions_are_numbered_in_the_order_they_were_added_whatever_the_listing() -> None:
    rows = [lesion(3, MapPoint("anterior", 0.5, 0.5), day=9), lesion(1, MapPoint("anterior", 0.5, 0.5), day=2)]
    rows.append(lesion(2, MapPoint("anterior", 0.5, 0.5), day=2))

    number_lesions(rows)

    assert [(row.pk, row.number) for row in rows] == [(3, 3), (1, 1), (2, 2)]


def test_each_marker_sits_at_its_lesions_point_with_its_lesions_number() -> None:
    left_calf = lesion(1, MapPoint("posterior", 0.36, 0.8))
    right_cheek = lesion(2, MapPoint("anterior", 0.43, 0.09))
    number_lesions([left_calf, right_cheek])

    markers = body_map_markers([followup(right_cheek), followup(left_calf)])  # type: ignore[list-item]

    assert [m.number for m in markers] == [1, 2]  # the lesions' own numbers, not the listing's order
    back, front = markers
    assert (back.view, front.view) == ("posterior", "anterior")
    # Posterior figure centred at x 285: 0.36 of its 140 units is 19.6 units left of the centre line.
    assert (round(back.x, 1), round(back.y, 1)) == (285 - 19.6, 12 + 240.0)
    assert round(front.x, 1) == 95 - 9.8
    assert side_words(left_calf) == "patient's left"  # left of the back view's centre line
    assert side_words(right_cheek) == "patient's right"  # left of the front view's centre line


def test_lesions_on_one_spot_step_apart_instead_of_hiding_each_other() -> None:
    centre = body_sites.region_centre("posterior torso")
    rows = [lesion(n, centre, day=n) for n in range(1, 5)]
    number_lesions(rows)

    markers = body_map_markers(lesions=rows)

    assert len({(m.x, m.y) for m in markers}) == 4
    assert all(m.view == "posterior" for m in markers)
