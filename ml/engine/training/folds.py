"""Lesion-grouped, class-stratified cross-fitting folds over train + validation (the test split untouched).

Every image of a lesion lies in one fold; each fold keeps the class proportions (scikit-learn's
``StratifiedGroupKFold``). Fold ``k`` trains on the other folds and is validated on fold ``k``;
its predictions on fold ``k`` are the out-of-fold predictions that every decision (temperature,
biases, ensemble weights, thresholds) is fitted on. The test split is the shipped one, so every
figure stays comparable with the earlier models.

``python -m ml.engine.training.folds --split-file ml/weights/NAME.split.json --metadata CSV --out FILE``
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ml.engine.data import DataError, Record, Split, read_metadata

DEFAULT_FOLDS = 5


@dataclass(frozen=True)
class Folds:
    """``folds[k]`` are the image ids of fold ``k``; ``test`` the held-out test split."""

    folds: tuple[tuple[str, ...], ...]
    test: tuple[str, ...]
    seed: int

    def __len__(self) -> int:
        return len(self.folds)

    def split_for(self, fold: int) -> Split:
        """Train on every fold but ``fold``, validate on ``fold``, test on the test split."""
        if not 0 <= fold < len(self.folds):
            raise DataError(f"fold {fold} does not exist; choose 0..{len(self.folds) - 1}")
        train = sorted(i for k, ids in enumerate(self.folds) if k != fold for i in ids)
        return Split(train=train, val=sorted(self.folds[fold]), test=sorted(self.test), seed=self.seed)

    def fold_of(self) -> dict[str, int]:
        """Image id -> its fold."""
        return {image_id: k for k, ids in enumerate(self.folds) for image_id in ids}

    def to_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "folds": [list(ids) for ids in self.folds], "test": list(self.test)}

    def save(self, path: Path | str, **extra: Any) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({**extra, **self.to_dict()}, indent=1) + "\n")
        return path

    @classmethod
    def load(cls, path: Path | str) -> Folds:
        data = json.loads(Path(path).read_text())
        try:
            return cls(
                folds=tuple(tuple(ids) for ids in data["folds"]),
                test=tuple(data["test"]),
                seed=int(data.get("seed", 0)),
            )
        except (KeyError, TypeError) as error:
            raise DataError(f"{path} is not a folds file: {error}") from error


def make_folds(records: Sequence[Record], test_ids: Sequence[str], k: int = DEFAULT_FOLDS, seed: int = 0) -> Folds:
    """``k`` lesion-grouped, class-stratified folds of every record not in ``test_ids``."""
    from sklearn.model_selection import StratifiedGroupKFold

    test = set(test_ids)
    pool = sorted((r for r in records if r.image_id not in test), key=lambda r: r.image_id)
    test_lesions = {r.lesion_id for r in records if r.image_id in test}
    leaked = [r.image_id for r in pool if r.lesion_id in test_lesions]
    if leaked:
        raise DataError(f"{len(leaked)} images share a lesion with the test split (first: {leaked[0]})")
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    labels = np.array([r.dx for r in pool])
    groups = np.array([r.lesion_id for r in pool])
    folds = [
        tuple(pool[i].image_id for i in held_out) for _, held_out in splitter.split(np.zeros(len(pool)), labels, groups)
    ]
    return Folds(folds=tuple(folds), test=tuple(sorted(test)), seed=seed)


def describe(folds: Folds, records: Sequence[Record]) -> list[dict[str, Any]]:
    """Images and class counts per fold (for the log and the model card)."""
    dx = {r.image_id: r.dx for r in records}
    return [
        {"fold": k, "images": len(ids), "classes": dict(Counter(dx[i] for i in ids))}
        for k, ids in enumerate(folds.folds)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.engine.training.folds", description=__doc__.splitlines()[0])
    parser.add_argument("--split-file", required=True, help="the shipped split whose test side stays held out")
    parser.add_argument("--metadata", required=True, help="HAM10000_metadata.csv")
    parser.add_argument("--out", required=True, help="where to write the folds (JSON)")
    parser.add_argument("--folds", type=int, default=DEFAULT_FOLDS)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    records = read_metadata(args.metadata)
    split = Split.load(args.split_file)
    folds = make_folds(records, split.test, k=args.folds, seed=args.seed)
    folds.save(args.out, metadata=Path(args.metadata).name, test_from=Path(args.split_file).name, grouping="lesion_id")
    for row in describe(folds, records):
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["DEFAULT_FOLDS", "Folds", "describe", "make_folds"]
