"""Operating points chosen on validation and measured on test: high cut, borderline rule, heatmap warning."""

from __future__ import annotations

import numpy as np
import pytest

from ml.engine.evaluation.deployed_points import PhotoResult, borderline_or_above, high_cut, summarise, warning_cut

MEL, NV = 4, 5


def photo(
    label: int,
    p: float,
    *,
    top: int | None = None,
    low: float | None = None,
    high: float | None = None,
    concentration: float | None = 2.0,
) -> PhotoResult:
    return PhotoResult("ISIC", label, label if top is None else top, p, low, high, concentration)


def test_the_high_cut_reaches_the_asked_specificity_on_the_photos_it_is_chosen_on() -> None:
    others = [photo(NV, p) for p in np.linspace(0.0, 0.5, 100)]
    cut = high_cut([*others, photo(MEL, 0.9)], MEL, specificity=0.95)
    below = np.mean([r.p_mel < cut for r in others])
    assert below >= 0.95 and np.mean([r.p_mel < cut - 0.01 for r in others]) < 0.95


def test_a_range_straddling_the_threshold_counts_as_flagged() -> None:
    results = [photo(NV, 0.04, low=0.03, high=0.06), photo(NV, 0.04, low=0.02, high=0.045), photo(NV, 0.06)]
    assert borderline_or_above(results, 0.05).tolist() == [True, False, True]


def test_the_warning_fires_on_the_chosen_share_of_correct_validation_photos() -> None:
    correct = [photo(NV, 0.01, concentration=c) for c in np.linspace(0.5, 5.0, 100)]
    wrong = [photo(NV, 0.01, top=MEL, concentration=0.1)]
    cut = warning_cut([*correct, *wrong], rate=0.10)
    assert cut is not None
    assert np.mean([r.concentration < cut for r in correct]) == pytest.approx(0.10, abs=0.01)


def test_the_summary_measures_on_test_what_validation_chose() -> None:
    val = [photo(NV, p) for p in np.linspace(0, 0.3, 50)] + [photo(MEL, 0.5)]
    test = [photo(MEL, 0.8), photo(MEL, 0.04, low=0.03, high=0.07), photo(NV, 0.02), photo(NV, 0.6)]
    report = summarise(val, test, threshold=0.05, mel=MEL)
    flagged, high = report["melanoma_operating_points"]
    assert flagged["threshold"] == 0.05 and flagged["sensitivity"] == 0.5 and flagged["specificity"] == 0.5
    assert flagged["rule_with_borderline"]["sensitivity"] == 1.0
    assert high["threshold"] > 0.28 and high["sensitivity"] == 0.5
    assert report["borderline_share_of_test_photos"] == 0.25
