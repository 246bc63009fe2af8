"""Metrics against values computed by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ml.engine.evaluation.metrics import (
    binary_auc,
    classification_metrics,
    confusion_matrix,
    expected_calibration_error,
    save_confusion_matrix_png,
)

# Three classes: true 0,0,0,1,1,2 predicted 0,0,1,1,2,2.
LABELS = np.array([0, 0, 0, 1, 1, 2])
PREDICTIONS = np.array([0, 0, 1, 1, 2, 2])


def one_hot_probabilities(predictions: np.ndarray, classes: int, confidence: float = 0.8) -> np.ndarray:
    rest = (1 - confidence) / (classes - 1)
    probabilities = np.full((len(predictions), classes), rest)
    probabilities[np.arange(len(predictions)), predictions] = confidence
    return probabilities


def test_three_class_confusion_and_scores_by_hand() -> None:
    m = classification_metrics(LABELS, one_hot_probabilities(PREDICTIONS, 3), classes=("a", "b", "c"))
    assert m["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert m["accuracy"] == pytest.approx(4 / 6)
    # recalls 2/3, 1/2, 1/1
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    # precisions 2/2, 1/2, 1/2
    assert m["per_class"]["a"]["precision"] == pytest.approx(1.0)
    assert m["per_class"]["b"]["precision"] == pytest.approx(0.5)
    assert m["per_class"]["c"]["precision"] == pytest.approx(0.5)
    assert m["per_class"]["a"]["f1"] == pytest.approx(0.8, abs=1e-6)  # 2*1*(2/3)/(5/3)
    assert m["per_class"]["c"]["f1"] == pytest.approx(2 / 3, abs=1e-6)
    assert m["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3, abs=1e-6)
    assert [m["per_class"][c]["support"] for c in "abc"] == [3, 2, 1]


def test_melanoma_sensitivity_and_specificity() -> None:
    classes = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
    labels = np.array([4, 4, 4, 4, 5, 5, 5, 1])
    predictions = np.array([4, 4, 4, 5, 5, 4, 5, 1])
    m = classification_metrics(labels, one_hot_probabilities(predictions, 7), classes=classes)
    assert m["melanoma"]["sensitivity"] == pytest.approx(3 / 4)
    assert m["melanoma"]["specificity"] == pytest.approx(3 / 4)  # one of four non-melanomas flagged


def test_auc_by_hand_with_ties() -> None:
    # positives 0.35 and 0.8 against negatives 0.1 and 0.4: 3 of 4 pairs ordered correctly.
    assert binary_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == pytest.approx(0.75)
    assert binary_auc(np.array([0.5, 0.5, 0.9]), np.array([1, 0, 1])) == pytest.approx(0.75)  # tie = 1/2
    assert binary_auc(np.array([0.2, 0.9]), np.array([1, 0])) == pytest.approx(0.0)
    assert np.isnan(binary_auc(np.array([0.2, 0.9]), np.array([1, 1])))


def test_auc_matches_pairwise_count_on_random_scores() -> None:
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 20, 300).astype(float)  # many ties
    positives = rng.random(300) < 0.3
    pos, neg = scores[positives], scores[~positives]
    pairwise = ((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])).mean()
    assert binary_auc(scores, positives) == pytest.approx(pairwise)


def test_expected_calibration_error_by_hand() -> None:
    # Two predictions at 0.9 confidence (one right) and one at 0.6 (right):
    # bin 0.9: |0.5 - 0.9| * 2/3, bin 0.6: |1.0 - 0.6| * 1/3 -> 0.4.
    probabilities = np.array([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6]])
    labels = np.array([0, 1, 1])
    assert expected_calibration_error(labels, probabilities, bins=15) == pytest.approx(0.4)
    perfect = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert expected_calibration_error(np.array([0, 1]), perfect) == pytest.approx(0.0)


def test_confusion_matrix_counts_and_png(tmp_path: Path) -> None:
    matrix = confusion_matrix(LABELS, PREDICTIONS, 3)
    assert matrix.sum() == len(LABELS)
    path = save_confusion_matrix_png(matrix, tmp_path / "cm.png", classes=("a", "b", "c"), title="test")
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.width > 200 and image.height > 200


def test_matrix_balanced_accuracy_agrees_with_scikit_learn() -> None:
    from sklearn.metrics import balanced_accuracy_score

    from ml.engine.evaluation.metrics import balanced_accuracy

    rng = np.random.default_rng(3)
    labels = rng.integers(0, 7, 500)
    predictions = np.where(rng.random(500) < 0.6, labels, rng.integers(0, 7, 500))
    assert balanced_accuracy(confusion_matrix(labels, predictions, 7)) == pytest.approx(
        balanced_accuracy_score(labels, predictions)
    )


def test_flag_sensitivity_and_specificity_by_hand() -> None:
    from ml.engine.evaluation.metrics import flag_metrics

    # class 1 is the flagged one: 3 positives (2 flagged), 4 negatives (1 flagged)
    labels = np.array([1, 1, 1, 0, 0, 2, 2])
    flags = np.array([True, True, False, True, False, False, False])
    m = flag_metrics(labels, flags, positive=1)
    assert m["sensitivity"] == pytest.approx(2 / 3)
    assert m["specificity"] == pytest.approx(3 / 4)
    assert m["flagged"] == 3


def test_threshold_for_sensitivity_takes_the_highest_threshold_that_reaches_it() -> None:
    from ml.engine.evaluation.metrics import specificity_at_sensitivity, threshold_for_sensitivity

    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
    positives = np.array([1, 1, 0, 1, 0, 1, 0, 0, 0, 0], dtype=bool)  # positive scores .9 .8 .6 .4
    assert threshold_for_sensitivity(scores, positives, 0.75) == pytest.approx(0.6)  # 3 of 4
    assert threshold_for_sensitivity(scores, positives, 0.76) == pytest.approx(0.4)  # needs all 4
    assert threshold_for_sensitivity(scores, positives, 1.0) == pytest.approx(0.4)
    # at t = 0.6: negatives 0.7 flagged, 0.5 .3 .2 .1 .05 not -> 5 / 6
    assert specificity_at_sensitivity(scores, positives, 0.75) == pytest.approx(5 / 6)
