"""The decision rule's mathematics: what turns logits into the probabilities and the top class the app shows.

Fitted on the validation split (``ml.engine.training.calibrate`` applies it to a shipped model's manifest,
``ml.engine.training.build_ensemble`` to an ensemble's):

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
import numpy.typing as npt

from ml.engine.evaluation.metrics import balanced_accuracy


def _log_softmax(logits: np.ndarray) -> npt.NDArray[np.float64]:
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs: npt.NDArray[np.float64] = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return log_probs


def softmax(logits: np.ndarray, temperature: float = 1.0, bias: np.ndarray | None = None) -> npt.NDArray[np.float64]:
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


def _confusion(labels: np.ndarray, predictions: np.ndarray, classes: int) -> np.ndarray:
    # The search below scores thousands of offsets: a bincount is far cheaper than
    # scikit-learn's confusion_matrix here (which the reported metrics use).
    return np.bincount(labels * classes + predictions, minlength=classes * classes).reshape(classes, classes)


def _objective(
    logits: np.ndarray, labels: np.ndarray, bias: np.ndarray, accuracy_weight: float, shrink: float
) -> float:
    predictions = (logits + bias).argmax(axis=1)
    matrix = _confusion(labels, predictions, logits.shape[1])
    accuracy = float(np.trace(matrix) / max(1, len(labels)))
    return balanced_accuracy(matrix) + accuracy_weight * accuracy - shrink * float(np.square(bias).sum())


def _fit_bias(
    logits: np.ndarray, labels: np.ndarray, accuracy_weight: float, grid: np.ndarray, rounds: int, shrink: float
) -> npt.NDArray[np.float64]:
    """Coordinate ascent over ``grid``, class by class, a few rounds; centred offsets."""
    bias = np.zeros(logits.shape[1])
    best = _objective(logits, labels, bias, accuracy_weight, shrink)
    for _ in range(rounds):
        improved = False
        for c in range(logits.shape[1]):
            for value in grid:
                candidate = bias.copy()
                candidate[c] = value
                score = _objective(logits, labels, candidate, accuracy_weight, shrink)
                if score > best + 1e-12:
                    best, bias, improved = score, candidate, True
        if not improved:
            break
    centred: npt.NDArray[np.float64] = bias - bias.mean()
    return centred


def _stratified_halves(labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    first: list[int] = []
    second: list[int] = []
    for c in np.unique(labels):
        index = np.flatnonzero(labels == c)
        rng.shuffle(index)
        first += index[: len(index) // 2].tolist()
        second += index[len(index) // 2 :].tolist()
    return np.asarray(first, dtype=np.int64), np.asarray(second, dtype=np.int64)


def logit_bias_cross_check(
    logits: np.ndarray,
    labels: np.ndarray,
    accuracy_weight: float = 0.0,
    grid: np.ndarray | None = None,
    rounds: int = 3,
    shrink: float = 1e-4,
    repeats: int = 4,
    seed: int = 0,
) -> dict[str, float]:
    """Does a fitted bias carry over to images it was not fitted on?

    Repeated stratified 2-fold cross-fitting: the bias is fitted on one half and scored on the
    other (and the other way round), against no bias on the same half. ``gain`` is the mean
    change of the objective (balanced accuracy + accuracy_weight x accuracy) on held-out halves.
    """
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    grid = _default_grid() if grid is None else np.asarray(grid, dtype=np.float64)
    rng = np.random.default_rng(seed)
    zeros = np.zeros(logits.shape[1])
    with_bias, without = [], []
    for _ in range(repeats):
        first, second = _stratified_halves(labels, rng)
        for fit_on, score_on in ((first, second), (second, first)):
            bias = _fit_bias(logits[fit_on], labels[fit_on], accuracy_weight, grid, rounds, shrink)
            with_bias.append(_objective(logits[score_on], labels[score_on], bias, accuracy_weight, 0.0))
            without.append(_objective(logits[score_on], labels[score_on], zeros, accuracy_weight, 0.0))
    return {
        "held_out_objective_with_bias": float(np.mean(with_bias)),
        "held_out_objective_without_bias": float(np.mean(without)),
        "gain": float(np.mean(with_bias) - np.mean(without)),
        "folds": 2 * repeats,
    }


def can_cross_check(labels: np.ndarray, classes: int) -> bool:
    """Enough images to fit on half and score on the other half."""
    return len(labels) >= 4 * classes


def _default_grid() -> np.ndarray:
    return np.round(np.arange(-4.0, 4.0001, 0.1), 3)


def fit_logit_bias(
    logits: np.ndarray,
    labels: np.ndarray,
    accuracy_weight: float = 0.0,
    grid: np.ndarray | None = None,
    rounds: int = 3,
    shrink: float = 1e-4,
    cross_check: bool = True,
) -> np.ndarray:
    """Per-class additive logit offsets that maximise balanced accuracy on (validation) logits.

    Coordinate ascent over a grid, class by class, a few rounds. ``accuracy_weight`` adds
    plain accuracy to the objective (0 = balanced accuracy only); ``shrink`` is a small L2
    pull towards zero so that ties and flat regions keep the offsets small. The offsets are
    centred (mean 0): only their differences matter.

    Seven free offsets fitted on a validation split with a few dozen images in the small
    classes can fit that split's noise: with ``cross_check`` the offsets are kept only if
    offsets fitted the same way on half of the images beat no offsets on the other half
    (``logit_bias_cross_check``); otherwise all zeros (plain argmax) are returned.
    """
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    classes = logits.shape[1]
    if len(labels) == 0:
        return np.zeros(classes)
    grid = _default_grid() if grid is None else np.asarray(grid, dtype=np.float64)
    if cross_check and can_cross_check(labels, classes):
        check = logit_bias_cross_check(logits, labels, accuracy_weight, grid, rounds, shrink)
        if check["gain"] <= 0:
            return np.zeros(classes)
    return _fit_bias(logits, labels, accuracy_weight, grid, rounds, shrink)


__all__ = [
    "can_cross_check",
    "fit_logit_bias",
    "fit_temperature",
    "logit_bias_cross_check",
    "nll_at_temperature",
    "softmax",
]
