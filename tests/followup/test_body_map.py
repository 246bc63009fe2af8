"""The body map of the patient page (followup.body_map), over plain rows."""

from __future__ import annotations

from types import SimpleNamespace

from followup.body_map import body_map_markers

# --- body map -----------------------------------------------------------------------------------


def test_body_map_puts_each_site_on_the_right_view_and_spreads_lesions() -> None:
    def followup(site: str) -> SimpleNamespace:
        return SimpleNamespace(lesion=SimpleNamespace(body_site=site), flagged=False, flags=[])

    sites = ["posterior torso", "posterior torso", "anterior torso", "head/neck", "oral/genital", "oral/genital"]

    markers = body_map_markers([followup(site) for site in sites])  # type: ignore[arg-type]

    assert [m.number for m in markers] == [1, 2, 3, 4, 5, 6]
    assert [m.view for m in markers] == ["back", "back", "front", "front", "front", "front"]
    assert len({(m.x, m.y) for m in markers}) == len(markers)  # no two markers on one spot
    assert markers[0].x > 190 > markers[2].x  # back figure on the right
