"""Classification metrics (scikit-learn's where it has them) and a confusion-matrix picture."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ml.engine.labels import HAM10000_CLASSES


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows are true classes, columns predicted classes (scikit-learn's, every class listed)."""
    from sklearn.metrics import confusion_matrix as sk_confusion_matrix

    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) == 0:
        return np.zeros((num_classes, num_classes), dtype=np.int64)
    matrix: np.ndarray = sk_confusion_matrix(
        labels, np.asarray(predictions, dtype=np.int64), labels=list(range(num_classes))
    )
    return matrix


def per_class_scores(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support per class (0 where undefined)."""
    tp = np.diag(matrix).astype(np.float64)
    predicted = matrix.sum(axis=0).astype(np.float64)
    actual = matrix.sum(axis=1).astype(np.float64)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros_like(tp), where=denominator > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": actual.astype(np.int64)}


def balanced_accuracy(matrix: np.ndarray) -> float:
    """Mean recall over the classes present, from a confusion matrix.

    The decision-rule search evaluates this thousands of times on one matrix each, where
    building scikit-learn's inputs again would dominate; ``classification_metrics`` reports
    ``sklearn.metrics.balanced_accuracy_score`` and a test checks the two agree.
    """
    actual = matrix.sum(axis=1)
    present = actual > 0
    if not present.any():
        return float("nan")
    return float((np.diag(matrix)[present] / actual[present]).mean())


def binary_auc(scores: np.ndarray, positives: np.ndarray) -> float:
    """ROC AUC (scikit-learn's ``roc_auc_score``); NaN without both classes."""
    from sklearn.metrics import roc_auc_score

    positives = np.asarray(positives, dtype=bool)
    if positives.all() or not positives.any():
        return float("nan")
    return float(roc_auc_score(positives, np.asarray(scores, dtype=np.float64)))


def one_vs_rest_auc(labels: np.ndarray, probabilities: np.ndarray) -> list[float]:
    """AUC of each class against the rest."""
    labels = np.asarray(labels)
    return [binary_auc(probabilities[:, c], labels == c) for c in range(probabilities.shape[1])]


def flag_metrics(labels: np.ndarray, flags: np.ndarray, positive: int) -> dict[str, float]:
    """Sensitivity and specificity of a yes/no flag for one class (e.g. the melanoma flag)."""
    labels = np.asarray(labels)
    flags = np.asarray(flags, dtype=bool)
    is_positive = labels == positive
    return {
        "sensitivity": float((flags & is_positive).sum() / is_positive.sum()) if is_positive.any() else float("nan"),
        "specificity": float((~flags & ~is_positive).sum() / (~is_positive).sum())
        if (~is_positive).any()
        else float("nan"),
        "flagged": int(flags.sum()),
    }


def threshold_for_sensitivity(scores: np.ndarray, positives: np.ndarray, sensitivity: float) -> float:
    """The highest threshold t with mean(scores[positives] >= t) >= sensitivity (flag: score >= t)."""
    scores = np.asarray(scores, dtype=np.float64)
    positive_scores = np.sort(scores[np.asarray(positives, dtype=bool)])[::-1]
    if len(positive_scores) == 0:
        raise ValueError("no positive examples to set a sensitivity on")
    needed = int(np.ceil(sensitivity * len(positive_scores) - 1e-9))
    return float(positive_scores[max(needed, 1) - 1])


def specificity_at_sensitivity(scores: np.ndarray, positives: np.ndarray, sensitivity: float) -> float:
    """Specificity of the flag ``score >= threshold_for_sensitivity(...)`` on the same scores."""
    threshold = threshold_for_sensitivity(scores, positives, sensitivity)
    positives = np.asarray(positives, dtype=bool)
    return float((np.asarray(scores)[~positives] < threshold).mean()) if (~positives).any() else float("nan")


def expected_calibration_error(labels: np.ndarray, probabilities: np.ndarray, bins: int = 15) -> float:
    """ECE of the top-class confidence over equal-width bins (weighted by bin size)."""
    labels = np.asarray(labels)
    if len(labels) == 0:
        return float("nan")
    confidence = probabilities.max(axis=1)
    correct = (probabilities.argmax(axis=1) == labels).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    # Bin i holds confidences in (edges[i], edges[i+1]]; confidence 0 falls into the first bin.
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        members = index == b
        if members.any():
            ece += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(ece)


def nll(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean negative log-likelihood of the true class."""
    labels = np.asarray(labels)
    picked = probabilities[np.arange(len(labels)), labels]
    return float(-np.log(np.clip(picked, 1e-12, 1.0)).mean()) if len(labels) else float("nan")


def _balanced_accuracy_score(labels: np.ndarray, predictions: np.ndarray) -> float:
    from sklearn.metrics import balanced_accuracy_score

    if len(labels) == 0:
        return float("nan")
    # Mean recall over the classes present in ``labels`` (as ``balanced_accuracy``); scikit-learn
    # warns when a class is predicted that never occurs, which is not an error here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return float(balanced_accuracy_score(labels, predictions))


def _nan_to_none(value: float) -> float | None:
    return None if value != value else round(float(value), 6)


def classification_metrics(
    labels: np.ndarray,
    probabilities: np.ndarray,
    classes: Sequence[str] = HAM10000_CLASSES,
    predictions: np.ndarray | None = None,
    melanoma_threshold: float | None = None,
) -> dict[str, Any]:
    """All headline numbers for a set of predictions (JSON-serialisable).

    ``predictions`` defaults to the argmax of ``probabilities``; pass them when a decision rule
    (e.g. a logit bias) differs from the probabilities' argmax. With ``melanoma_threshold`` the
    melanoma flag (P(mel) >= threshold), a decision kept apart from the top class, is measured too.
    """
    labels = np.asarray(labels, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if predictions is None:
        predictions = probabilities.argmax(axis=1) if len(labels) else np.zeros(0, dtype=np.int64)
    n = len(classes)
    matrix = confusion_matrix(labels, predictions, n)
    scores = per_class_scores(matrix)
    aucs = one_vs_rest_auc(labels, probabilities) if len(labels) else [float("nan")] * n
    valid = [a for a in aucs if a == a]
    result: dict[str, Any] = {
        "n": len(labels),
        "accuracy": float((predictions == labels).mean()) if len(labels) else float("nan"),
        "balanced_accuracy": _balanced_accuracy_score(labels, predictions),
        "macro_f1": float(scores["f1"][scores["support"] > 0].mean()) if len(labels) else float("nan"),
        "auc_macro": float(np.mean(valid)) if valid else float("nan"),
        "per_class": {
            name: {
                "precision": round(float(scores["precision"][i]), 6),
                "recall": round(float(scores["recall"][i]), 6),
                "f1": round(float(scores["f1"][i]), 6),
                "support": int(scores["support"][i]),
                "auc": _nan_to_none(aucs[i]),
            }
            for i, name in enumerate(classes)
        },
        "confusion_matrix": matrix.tolist(),
        "ece": expected_calibration_error(labels, probabilities),
        "nll": nll(labels, probabilities),
    }
    if "mel" in classes:
        mel = list(classes).index("mel")
        is_mel = labels == mel
        flagged = predictions == mel
        tn = int((~is_mel & ~flagged).sum())
        result["melanoma"] = {
            "sensitivity": float((is_mel & flagged).sum() / is_mel.sum()) if is_mel.any() else float("nan"),
            "specificity": float(tn / (~is_mel).sum()) if (~is_mel).any() else float("nan"),
            "auc": aucs[mel],
        }
        if melanoma_threshold is not None:
            flags = probabilities[:, mel] >= melanoma_threshold
            result["melanoma_flag"] = {"threshold": float(melanoma_threshold), **flag_metrics(labels, flags, mel)}
    return result


def confusion_matrix_image(
    matrix: np.ndarray | list[list[int]],
    classes: Sequence[str] = HAM10000_CLASSES,
    title: str = "",
    cell: int = 64,
) -> np.ndarray:
    """Render a confusion matrix (counts, rows normalised for the colour) as an RGB uint8 image."""
    import cv2

    matrix = np.asarray(matrix, dtype=np.int64)
    n = len(classes)
    margin_left, margin_top = 90, 70 if title else 50
    height, width = margin_top + n * cell + 40, margin_left + n * cell + 20
    image = np.full((height, width, 3), 255, dtype=np.uint8)
    rows = matrix.sum(axis=1, keepdims=True).clip(min=1)
    share = matrix / rows
    font = cv2.FONT_HERSHEY_SIMPLEX
    if title:
        cv2.putText(image, title, (10, 22), font, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(image, "predicted", (margin_left + n * cell // 2 - 40, margin_top - 28), font, 0.5, (0, 0, 0), 1)
    for i in range(n):
        cv2.putText(image, classes[i], (margin_left + i * cell + 8, margin_top - 8), font, 0.45, (0, 0, 0), 1)
        cv2.putText(image, classes[i], (10, margin_top + i * cell + cell // 2 + 5), font, 0.45, (0, 0, 0), 1)
        for j in range(n):
            shade = int(255 - 200 * share[i, j])
            colour = (shade, shade, 255) if i != j else (shade, 255, shade)
            top_left = (margin_left + j * cell, margin_top + i * cell)
            bottom_right = (top_left[0] + cell - 1, top_left[1] + cell - 1)
            cv2.rectangle(image, top_left, bottom_right, colour, -1)
            cv2.rectangle(image, top_left, bottom_right, (160, 160, 160), 1)
            text = str(int(matrix[i, j]))
            size = cv2.getTextSize(text, font, 0.45, 1)[0]
            origin = (top_left[0] + (cell - size[0]) // 2, top_left[1] + (cell + size[1]) // 2)
            cv2.putText(image, text, origin, font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(image, "rows: true class", (10, height - 14), font, 0.45, (80, 80, 80), 1)
    return image[:, :, ::-1].copy()  # drawn as BGR colours; return RGB


def save_confusion_matrix_png(
    matrix: np.ndarray | list[list[int]], path: Path | str, classes: Sequence[str] = HAM10000_CLASSES, title: str = ""
) -> Path:
    """Write the confusion-matrix picture as PNG."""
    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = confusion_matrix_image(matrix, classes, title)
    if not cv2.imwrite(str(path), rgb[:, :, ::-1]):
        raise OSError(f"could not write {path}")
    return path


__all__ = [
    "balanced_accuracy",
    "binary_auc",
    "classification_metrics",
    "confusion_matrix",
    "confusion_matrix_image",
    "expected_calibration_error",
    "flag_metrics",
    "nll",
    "one_vs_rest_auc",
    "per_class_scores",
    "save_confusion_matrix_png",
    "specificity_at_sensitivity",
    "threshold_for_sensitivity",
]
