"""Reading the melanoma score: bands from the measured operating points, borderline from the readings' middle half."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from followup.melanoma import BELOW, BORDERLINE, FLAGGED, HIGH, bands_of, melanoma_reading

METRICS = {
    "test": {
        "metrics": {
            "melanoma_flag": {"threshold": 0.052, "sensitivity": 0.84, "specificity": 0.74},
            "melanoma_operating_points": [
                {"name": "flagged", "threshold": 0.052, "sensitivity": 0.84, "specificity": 0.74},
                {"name": "high", "threshold": 0.3, "sensitivity": 0.55, "specificity": 0.95},
            ],
        }
    }
}


def prediction(p: float, spread: list[float] | None = None, threshold: float | None = 0.052) -> SimpleNamespace:
    return SimpleNamespace(
        probabilities={"mel": p, "nv": 1 - p},
        melanoma_range=spread,
        melanoma_threshold=threshold,
        model_version=SimpleNamespace(metrics=METRICS),
    )


def test_the_bands_come_from_the_measured_operating_points() -> None:
    below, flagged, high = bands_of(METRICS, 0.052)
    assert (below.name, below.low, below.high) == (BELOW, 0.0, 0.052)
    assert (flagged.name, flagged.low, flagged.high, flagged.sensitivity) == (FLAGGED, 0.052, 0.3, 0.84)
    assert (high.name, high.low, high.high, high.specificity) == (HIGH, 0.3, 1.0, 0.95)


def test_without_operating_points_the_flag_threshold_alone_makes_two_bands() -> None:
    bands = bands_of({"test": {"melanoma_flag": {"sensitivity": 0.9, "specificity": 0.7}}}, 0.1)
    assert [(b.name, b.low, b.high, b.sensitivity) for b in bands] == [
        (BELOW, 0.0, 0.1, None),
        (FLAGGED, 0.1, 1.0, 0.9),
    ]


@pytest.mark.parametrize(
    ("p", "spread", "state"),
    [
        (0.046, [0.040, 0.058], BORDERLINE),  # the readings straddle 5.2%: borderline, not "below"
        (0.053, [0.040, 0.058], BORDERLINE),  # ... and the same for the photo just above
        (0.020, [0.010, 0.030], BELOW),
        (0.080, [0.060, 0.110], FLAGGED),
        (0.450, [0.300, 0.600], HIGH),
        (0.060, None, FLAGGED),  # a single reading: no range, the threshold decides
    ],
)
def test_near_identical_photos_read_the_same(p: float, spread: list[float] | None, state: str) -> None:
    reading = melanoma_reading(prediction(p, spread))
    assert reading is not None and reading.state == state
    assert reading.raises_flag == (state != BELOW)


def test_the_explanation_names_the_threshold_and_its_measured_figures_without_misleading_rounding() -> None:
    reading = melanoma_reading(prediction(0.0516, [0.045, 0.06]))
    assert reading is not None
    text = reading.explanation()
    assert "P(mel) 5.2%" in text and "threshold is 5.2%" in text and "84% of test melanomas" in text
    assert "borderline" in text
    assert melanoma_reading(prediction(0.2, threshold=None)) is None
