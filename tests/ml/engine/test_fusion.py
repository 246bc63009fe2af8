"""The fusion head: scikit-learn fit, lesion-grouped cross-validation, and the same numbers in torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml.engine.inference.context import PatientContext, context_matrix
from ml.engine.inference.fusion import FusionHead
from ml.engine.training.fusion import cross_validate_fusion, fit_fusion_head, grouped_folds


def synthetic(n: int = 600, seed: int = 0) -> tuple[np.ndarray, list[PatientContext], np.ndarray, list[str]]:
    """Two members' noisy logits for 3 classes; class 2 vs 1 is told apart only by the body site."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    logits = rng.normal(0, 1, (n, 2, 7))
    logits[np.arange(n), :, np.where(labels == 0, 0, 1)] += 2.5  # the images see "0" vs "1 or 2"
    sites = np.where(labels == 2, "palms/soles", "head/neck")
    contexts = [PatientContext(age=float(rng.integers(20, 80)), site=str(s)) for s in sites]
    groups = [f"lesion{i // 2}" for i in range(n)]  # two images per lesion
    return logits, contexts, labels, groups


def test_head_in_torch_equals_the_numpy_head() -> None:
    logits, contexts, labels, _ = synthetic()
    head = fit_fusion_head(logits, contexts, labels, use_context=True, C=1.0)
    features = context_matrix(contexts[:10])
    expected = head.logits(logits[:10], features)
    got = head.torch_logits(torch.from_numpy(logits[:10]).double(), torch.from_numpy(features).double())
    assert got.numpy() == pytest.approx(expected, abs=1e-9)
    assert FusionHead.from_dict(head.to_dict()) == head


def test_the_context_carries_what_the_images_cannot_tell() -> None:
    logits, contexts, labels, groups = synthetic()
    with_context = cross_validate_fusion(logits, contexts, labels, groups, use_context=True)
    without = cross_validate_fusion(logits, contexts, labels, groups, use_context=False)
    accuracy = lambda oof: float((oof.argmax(axis=1) == labels).mean())  # noqa: E731
    assert accuracy(with_context.out_of_fold_logits) > 0.9
    assert accuracy(without.out_of_fold_logits) < 0.8
    # A missing site falls back on what the images say (class 1 or 2, never nonsense).
    head = with_context.head
    no_site = context_matrix([c.without("site") for c in contexts])
    predictions = head.logits(logits, no_site).argmax(axis=1)
    assert set(predictions[labels == 0]) <= {0, 1, 2}
    assert float((predictions[labels == 0] == 0).mean()) > 0.9


def test_cross_validation_never_splits_a_lesion_and_picks_c_from_the_grid() -> None:
    logits, contexts, labels, groups = synthetic()
    folds = grouped_folds(labels, groups, 5, seed=0)
    assert sorted(np.concatenate(folds).tolist()) == list(range(len(labels)))
    for fold in folds:
        inside = {groups[i] for i in fold}
        outside = {groups[i] for i in range(len(labels)) if i not in set(fold.tolist())}
        assert not inside & outside
    result = cross_validate_fusion(logits, contexts, labels, groups, use_context=False, c_grid=(0.001, 1.0))
    assert result.C in (0.001, 1.0)
    assert result.cv_nll[result.C] == min(result.cv_nll.values())
    assert result.out_of_fold_logits.shape == (len(labels), 7)


def test_classes_missing_from_the_fitting_rows_are_never_predicted() -> None:
    logits, contexts, labels, _ = synthetic()
    head = fit_fusion_head(logits, contexts, labels, use_context=False, C=1.0)
    assert head.logits(logits).argmax(axis=1).max() <= 2
    with pytest.raises(ValueError, match="at least 3 classes"):
        fit_fusion_head(logits[:4], contexts[:4], np.array([0, 1, 0, 1]), use_context=False, C=1.0)
