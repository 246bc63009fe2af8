"""Post-hoc calibration fitted on the validation split.

* Temperature scaling (Guo et al., 2017): one scalar T minimising the negative
  log-likelihood of ``softmax(logits / T)``; it changes confidences, never the ranking.
* Per-class logit bias: additive offsets chosen to maximise balanced accuracy (mean
  per-class recall), a post-hoc logit adjustment for the class imbalance of HAM10000.

The app computes ``softmax((logits + logit_bias) / temperature)``, so the bias is fitted
first on raw logits (argmax does not depend on T) and the temperature then on
``logits + bias``.
"""

from __future__ import annotations

import math

import numpy as np

from ml.engine.metrics import balanced_accuracy, confusion_matrix


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax(logits: np.ndarray, temperature: float = 1.0, bias: np.ndarray | None = None) -> np.ndarray:
    """softmax((logits + bias) / temperature), rows summing to 1."""
    logits = np.asarray(logits, dtype=np.float64)
    if bias is not None:
        logits = logits + np.asarray(bias, dtype=np.float64)
    return np.exp(_log_softmax(logits / temperature))


def nll_at_temperature(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    """Mean negative log-likelihood of ``softmax(logits / temperature)``."""
    log_probs = _log_softmax(np.asarray(logits, dtype=np.float64) / temperature)
    return float(-log_probs[np.arange(len(labels)), np.asarray(labels)].mean())


def fit_temperature(
    logits: np.ndarray, labels: np.ndarray, low: float = 0.05, high: float = 20.0, iterations: int = 100
) -> float:
    """The temperature minimising validation NLL (golden-section search over log T).

    The NLL is convex in 1/T, hence unimodal in log T, so the search finds the optimum.
    """
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) == 0:
        return 1.0
    a, b = math.log(low), math.log(high)
    ratio = (math.sqrt(5) - 1) / 2
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = nll_at_temperature(logits, labels, math.exp(c)), nll_at_temperature(logits, labels, math.exp(d))
    for _ in range(iterations):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = nll_at_temperature(logits, labels, math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = nll_at_temperature(logits, labels, math.exp(d))
    return float(math.exp((a + b) / 2))


def _objective(
    logits: np.ndarray, labels: np.ndarray, bias: np.ndarray, accuracy_weight: float, shrink: float
) -> float:
    predictions = (logits + bias).argmax(axis=1)
    matrix = confusion_matrix(labels, predictions, logits.shape[1])
    accuracy = float(np.trace(matrix) / max(1, len(labels)))
    return balanced_accuracy(matrix) + accuracy_weight * accuracy - shrink * float(np.square(bias).sum())


def fit_logit_bias(
    logits: np.ndarray,
    labels: np.ndarray,
    accuracy_weight: float = 0.0,
    grid: np.ndarray | None = None,
    rounds: int = 3,
    shrink: float = 1e-4,
) -> np.ndarray:
    """Per-class additive logit offsets that maximise balanced accuracy on (validation) logits.

    Coordinate ascent over a grid, class by class, a few rounds. ``accuracy_weight`` adds
    plain accuracy to the objective (0 = balanced accuracy only); ``shrink`` is a small L2
    pull towards zero so that ties and flat regions keep the offsets small. The offsets are
    centred (mean 0): only their differences matter.
    """
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    classes = logits.shape[1]
    bias = np.zeros(classes)
    if len(labels) == 0:
        return bias
    grid = np.round(np.arange(-4.0, 4.0001, 0.1), 3) if grid is None else np.asarray(grid, dtype=np.float64)
    best = _objective(logits, labels, bias, accuracy_weight, shrink)
    for _ in range(rounds):
        improved = False
        for c in range(classes):
            for value in grid:
                candidate = bias.copy()
                candidate[c] = value
                score = _objective(logits, labels, candidate, accuracy_weight, shrink)
                if score > best + 1e-12:
                    best, bias, improved = score, candidate, True
        if not improved:
            break
    return bias - bias.mean()


__all__ = ["fit_logit_bias", "fit_temperature", "nll_at_temperature", "softmax"]
