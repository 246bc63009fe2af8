"""Fitting the fusion head (``inference.fusion.FusionHead``) with scikit-learn; its strength chosen by grouped CV.

Context fields are dropped at random in the rows it is fitted on, so a missing field is an
input the head knows; the out-of-fold predictions are what the decision rule and the melanoma
threshold are then chosen on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ml.engine.inference.context import CONTEXT_FEATURES, PatientContext, context_matrix, drop_fields_at_random
from ml.engine.inference.fusion import FusionHead

DEFAULT_C_GRID: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
DEFAULT_FOLDS = 5
DROP_PROBABILITY = 0.3
DROP_COPIES = 3  # extra copies of each fitting row with fields dropped at random


def _augment(
    member_logits: np.ndarray,
    contexts: Sequence[PatientContext],
    labels: np.ndarray,
    use_context: bool,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """The fitting rows: as they are, plus copies with context fields dropped at random."""
    if not use_context:
        return member_logits, None, labels
    blocks = [context_matrix(contexts)]
    for _ in range(DROP_COPIES):
        blocks.append(context_matrix(drop_fields_at_random(contexts, DROP_PROBABILITY, rng)))
    copies = len(blocks)
    return (
        np.concatenate([member_logits] * copies),
        np.concatenate(blocks).astype(np.float64),
        np.concatenate([labels] * copies),
    )


def fit_fusion_head(
    member_logits: np.ndarray,
    contexts: Sequence[PatientContext],
    labels: np.ndarray,
    *,
    use_context: bool,
    C: float,
    seed: int = 0,
    classes: int = 7,
) -> FusionHead:
    """Fit the head on (N, members, classes) logits, N contexts and N labels."""
    from sklearn.linear_model import LogisticRegression

    member_logits = np.asarray(member_logits, dtype=np.float64)
    n, members, k = member_logits.shape
    flat = member_logits.reshape(n, -1)
    mean, scale = flat.mean(axis=0), flat.std(axis=0)
    scale = np.where(scale > 1e-6, scale, 1.0)
    rng = np.random.default_rng(seed)
    rows, context, y = _augment(member_logits, contexts, np.asarray(labels), use_context, rng)
    head = FusionHead(
        members=members,
        classes=classes,
        use_context=use_context,
        logit_mean=mean.tolist(),
        logit_scale=scale.tolist(),
        weight=[[0.0] * (members * k + (len(CONTEXT_FEATURES) if use_context else 0))] * classes,
        bias=[0.0] * classes,
        C=float(C),
    )
    x = head.features(rows, context)
    present = np.unique(y)
    if len(present) < 3:
        raise ValueError(f"the fusion head needs images of at least 3 classes to fit, got {len(present)}")
    model = LogisticRegression(C=C, max_iter=5000)
    model.fit(x, y)
    # A class absent from the fitting rows gets no weights and a very low bias (never predicted).
    weight = np.zeros((classes, x.shape[1]))
    bias = np.full(classes, -30.0)
    weight[model.classes_] = model.coef_
    bias[model.classes_] = model.intercept_
    head.weight = weight.tolist()
    head.bias = bias.tolist()
    head.validate()
    return head


@dataclass
class CrossValidatedFusion:
    """The chosen strength, its out-of-fold logits on the fitting images, and the final head."""

    head: FusionHead
    out_of_fold_logits: np.ndarray  # (N, classes), each row from a head that never saw its lesion
    C: float
    cv_nll: dict[float, float]


def grouped_folds(labels: np.ndarray, groups: Sequence[str], folds: int, seed: int) -> list[np.ndarray]:
    """Test indices of ``folds`` lesion-grouped, class-stratified folds (fewer when every class is smaller)."""
    from sklearn.model_selection import StratifiedGroupKFold

    folds = max(2, min(folds, int(np.bincount(labels).max())))
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    return [test for _, test in splitter.split(np.zeros(len(labels)), labels, groups)]


def cross_validate_fusion(
    member_logits: np.ndarray,
    contexts: Sequence[PatientContext],
    labels: np.ndarray,
    groups: Sequence[str],
    *,
    use_context: bool,
    c_grid: Sequence[float] = DEFAULT_C_GRID,
    folds: int = DEFAULT_FOLDS,
    seed: int = 0,
    classes: int = 7,
) -> CrossValidatedFusion:
    """Choose C by lesion-grouped cross-validated log-loss, then refit on everything.

    The out-of-fold logits (at the chosen C, with the full context) are what later choices
    (decision rule, melanoma threshold, members, views) are made on.
    """
    member_logits = np.asarray(member_logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    contexts = list(contexts)
    fold_index = grouped_folds(labels, groups, folds, seed)
    best: tuple[float, float, np.ndarray] | None = None
    scores: dict[float, float] = {}
    for C in c_grid:
        oof = np.zeros((len(labels), classes))
        for test in fold_index:
            train = np.setdiff1d(np.arange(len(labels)), test)
            head = fit_fusion_head(
                member_logits[train],
                [contexts[i] for i in train],
                labels[train],
                use_context=use_context,
                C=C,
                seed=seed,
                classes=classes,
            )
            context = context_matrix([contexts[i] for i in test]) if use_context else None
            oof[test] = head.logits(member_logits[test], context)
        log_probs = oof - np.logaddexp.reduce(oof, axis=1, keepdims=True)
        nll = float(-log_probs[np.arange(len(labels)), labels].mean())
        scores[float(C)] = nll
        if best is None or nll < best[0]:
            best = (nll, float(C), oof)
    assert best is not None
    _, chosen, oof = best
    head = fit_fusion_head(
        member_logits, contexts, labels, use_context=use_context, C=chosen, seed=seed, classes=classes
    )
    return CrossValidatedFusion(head=head, out_of_fold_logits=oof, C=chosen, cv_nll=scores)


__all__ = ["CrossValidatedFusion", "cross_validate_fusion", "fit_fusion_head", "grouped_folds"]
