"""The dermoscopy checklists' arithmetic and the items an outline can suggest: pure functions, no rows.

- 7-point checklist (Argenziano 1998): major criteria 2 points each (atypical pigment network,
  blue-whitish veil, atypical vascular pattern), minor criteria 1 point each (irregular streaks,
  irregular dots/globules, irregular blotches, regression structures); a total of 3 or more
  suggests melanoma.
- ABCD rule of dermoscopy (Stolz 1994): asymmetry A 0-2 axes, border B 0-8 segments with an abrupt
  cut-off, colours C 1-6, differential structures D 1-5; TDS = 1.3·A + 0.1·B + 0.5·C + 0.5·D;
  below 4.75 benign, 4.75-5.45 suspicious, above 5.45 highly suspicious for melanoma.
- 3-point checklist (Soyer 2004): asymmetry, atypical network, blue-white structures; 2 or more
  suggests referral.

The outline measures asymmetry about two axes, the border's compactness and the ABCD colours, so
it can suggest A, B and C. They are suggestions for the clinician to confirm: the thresholds below
are a documented heuristic, not validated against dermatologists' scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# (field name, label, points)
SEVEN_POINT_ITEMS: tuple[tuple[str, str, int], ...] = (
    ("atypical_network", "Atypical pigment network", 2),
    ("blue_white_veil", "Blue-whitish veil", 2),
    ("atypical_vessels", "Atypical vascular pattern", 2),
    ("irregular_streaks", "Irregular streaks", 1),
    ("irregular_dots", "Irregular dots/globules", 1),
    ("irregular_blotches", "Irregular blotches", 1),
    ("regression", "Regression structures", 1),
)
SEVEN_POINT_THRESHOLD = 3

THREE_POINT_ITEMS: tuple[tuple[str, str], ...] = (
    ("tp_asymmetry", "Asymmetry of colour and structure"),
    ("tp_atypical_network", "Atypical network"),
    ("tp_blue_white", "Blue-white structures"),
)
THREE_POINT_THRESHOLD = 2

# (field name, label, lowest, highest, weight)
ABCD_ITEMS: tuple[tuple[str, str, int, int, float], ...] = (
    ("abcd_asymmetry", "Asymmetry (axes, 0–2)", 0, 2, 1.3),
    ("abcd_border", "Border (abrupt segments, 0–8)", 0, 8, 0.1),
    ("abcd_colours", "Colours (1–6)", 1, 6, 0.5),
    ("abcd_structures", "Differential structures (1–5)", 1, 5, 0.5),
)
TDS_SUSPICIOUS = 4.75
TDS_HIGHLY_SUSPICIOUS = 5.45

# An axis counts as asymmetric when more than this share of the lesion misses its mirror image.
ASYMMETRY_AXIS_THRESHOLD = 0.15
# Compactness (perimeter² / 4π·area, 1 for a disc) per abrupt border segment above a smooth outline.
BORDER_COMPACTNESS_STEP = 0.1
PREFILLABLE = ("abcd_asymmetry", "abcd_border", "abcd_colours")


def seven_point_score(values: dict[str, Any]) -> int:
    return sum(points for name, _, points in SEVEN_POINT_ITEMS if values.get(name))


def three_point_score(values: dict[str, Any]) -> int | None:
    """None until every item is answered."""
    answers = [values.get(name) for name, _ in THREE_POINT_ITEMS]
    if any(answer is None for answer in answers):
        return None
    return sum(bool(answer) for answer in answers)


def total_dermoscopy_score(values: dict[str, Any]) -> float | None:
    """TDS, None until all four of A, B, C and D are given."""
    total = 0.0
    for name, _, _, _, weight in ABCD_ITEMS:
        part = values.get(name)
        if part is None:
            return None
        total += float(part) * weight
    return round(total, 2)


def tds_band(tds: float | None) -> str:
    if tds is None:
        return ""
    if tds < TDS_SUSPICIOUS:
        return "benign"
    if tds <= TDS_HIGHLY_SUSPICIOUS:
        return "suspicious"
    return "highly suspicious"


@dataclass(frozen=True)
class Suggestion:
    """What the outline suggests for one ABCD item, and from what."""

    field: str
    value: int
    basis: str


def outline_suggestions(
    *, asymmetry_major_axis: float, asymmetry_minor_axis: float, compactness: float, colours: int
) -> dict[str, Suggestion]:
    """A, B and C as the outline's measurements suggest them."""
    axes = sum(value > ASYMMETRY_AXIS_THRESHOLD for value in (asymmetry_major_axis, asymmetry_minor_axis))
    border = max(0, min(8, round((compactness - 1.0) / BORDER_COMPACTNESS_STEP)))
    return {
        "abcd_asymmetry": Suggestion(
            "abcd_asymmetry",
            axes,
            f"asymmetry {asymmetry_major_axis:.2f} / {asymmetry_minor_axis:.2f} (major / minor axis)",
        ),
        "abcd_border": Suggestion("abcd_border", border, f"border compactness {compactness:.2f} (1 = circle)"),
        "abcd_colours": Suggestion(
            "abcd_colours", max(1, min(6, colours)), f"{colours} colour{'' if colours == 1 else 's'} detected"
        ),
    }
