"""Temperature scaling recovers a known temperature; the logit bias raises balanced accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from ml.engine.evaluation.decision_rule import (
    fit_logit_bias,
    fit_temperature,
    logit_bias_cross_check,
    nll_at_temperature,
    softmax,
)
from ml.engine.evaluation.metrics import balanced_accuracy, confusion_matrix


def sample_labels(logits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    probabilities = softmax(logits)
    cumulative = probabilities.cumsum(axis=1)
    return (rng.random((len(logits), 1)) > cumulative).sum(axis=1)


@pytest.mark.parametrize("true_temperature", [0.5, 2.5])
def test_temperature_scaling_recovers_known_temperature(true_temperature: float) -> None:
    rng = np.random.default_rng(0)
    calibrated = rng.normal(0.0, 2.0, size=(20000, 7))
    labels = sample_labels(calibrated, rng)
    observed = calibrated * true_temperature  # over- (T > 1) or under-confident (T < 1) logits
    fitted = fit_temperature(observed, labels)
    assert fitted == pytest.approx(true_temperature, rel=0.05)
    assert nll_at_temperature(observed, labels, fitted) < nll_at_temperature(observed, labels, 1.0)


def test_softmax_matches_app_formula() -> None:
    logits = np.array([[1.0, 2.0, 0.5]])
    bias = np.array([0.5, -0.5, 0.0])
    expected = np.exp((logits + bias) / 2.0)
    assert softmax(logits, 2.0, bias) == pytest.approx(expected / expected.sum())


def test_logit_bias_recovers_balanced_accuracy_lost_to_a_class_prior() -> None:
    rng = np.random.default_rng(1)
    counts = [2000, 200, 100]
    labels = np.concatenate([np.full(n, c) for c, n in enumerate(counts)])
    logits = rng.normal(0.0, 1.0, size=(len(labels), 3))
    logits[np.arange(len(labels)), labels] += 2.0
    logits[:, 0] += 2.5  # a prior towards the majority class hides the small ones
    before = balanced_accuracy(confusion_matrix(labels, logits.argmax(axis=1), 3))
    bias = fit_logit_bias(logits, labels)
    after = balanced_accuracy(confusion_matrix(labels, (logits + bias).argmax(axis=1), 3))
    assert after > before + 0.15
    assert bias[0] < bias[1] and bias[0] < bias[2]  # the majority class is pushed down
    assert bias.mean() == pytest.approx(0.0, abs=1e-9)


def test_a_bias_that_only_fits_noise_is_dropped_by_the_cross_check() -> None:
    # Labels independent of the logits: any offsets that raise balanced accuracy on these
    # images fit their noise and do not carry over to the other half.
    rng = np.random.default_rng(3)
    labels = np.concatenate([np.full(n, c) for c, n in enumerate([300, 40, 20])])
    logits = rng.normal(0.0, 1.0, size=(len(labels), 3))
    logits[:, 0] += 1.0

    unchecked = fit_logit_bias(logits, labels, cross_check=False)
    checked = fit_logit_bias(logits, labels)
    check = logit_bias_cross_check(logits, labels)

    assert np.abs(unchecked).max() > 0.0
    assert check["gain"] <= 0.0
    assert checked == pytest.approx(np.zeros(3))


def test_the_cross_check_keeps_a_bias_that_carries_over() -> None:
    rng = np.random.default_rng(1)
    labels = np.concatenate([np.full(n, c) for c, n in enumerate([2000, 200, 100])])
    logits = rng.normal(0.0, 1.0, size=(len(labels), 3))
    logits[np.arange(len(labels)), labels] += 2.0
    logits[:, 0] += 2.5

    check = logit_bias_cross_check(logits, labels)

    assert check["gain"] > 0.1
    assert check["held_out_objective_with_bias"] > check["held_out_objective_without_bias"]
    assert np.abs(fit_logit_bias(logits, labels)).max() > 0.0
