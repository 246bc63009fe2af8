"""Temperature scaling recovers a known temperature; the logit bias raises balanced accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from ml.engine.calibration import fit_logit_bias, fit_temperature, nll_at_temperature, softmax
from ml.engine.metrics import balanced_accuracy, confusion_matrix


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
