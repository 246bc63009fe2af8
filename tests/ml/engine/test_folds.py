"""Cross-fitting folds: lesion-grouped, class-stratified, test split untouched, one fold per training run."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from ml.engine.data import DataError, Record, split_by_lesion
from ml.engine.training.config import config_from_args
from ml.engine.training.folds import Folds, make_folds
from tests.ml.engine.test_split import synthetic_records


def test_folds_cover_train_and_val_once_keep_lesions_whole_and_leave_test_alone() -> None:
    records = synthetic_records()
    split = split_by_lesion(records, seed=0)
    folds = make_folds(records, split.test, k=5, seed=0)

    pooled = [i for ids in folds.folds for i in ids]
    assert sorted(pooled) == sorted(split.train + split.val), "every non-test image in exactly one fold"
    assert set(folds.test) == set(split.test)
    lesion = {r.image_id: r.lesion_id for r in records}
    fold_of = folds.fold_of()
    lesion_folds: dict[str, set[int]] = {}
    for image_id in pooled:
        lesion_folds.setdefault(lesion[image_id], set()).add(fold_of[image_id])
    assert all(len(f) == 1 for f in lesion_folds.values()), "a lesion lies in two folds"


def test_each_fold_keeps_the_class_proportions() -> None:
    records = synthetic_records()
    split = split_by_lesion(records, seed=0)
    folds = make_folds(records, split.test, k=5, seed=0)
    dx = {r.image_id: r.dx for r in records}
    total = Counter(dx[i] for ids in folds.folds for i in ids)
    for ids in folds.folds:
        counts = Counter(dx[i] for i in ids)
        for cls in ("nv", "mel", "bkl"):
            assert counts[cls] == pytest.approx(total[cls] / 5, rel=0.25)
        assert counts["df"] >= 1, "even the rarest class is in every fold"


def test_split_for_a_fold_trains_on_the_others_and_round_trips(tmp_path: Path) -> None:
    records = synthetic_records()
    split = split_by_lesion(records, seed=0)
    folds = make_folds(records, split.test, k=5, seed=3)
    path = folds.save(tmp_path / "folds.json")
    loaded = Folds.load(path)
    assert loaded == folds
    fold_split = loaded.split_for(2)
    assert set(fold_split.val) == set(folds.folds[2])
    assert set(fold_split.train).isdisjoint(fold_split.val)
    assert len(fold_split.train) + len(fold_split.val) == sum(len(f) for f in folds.folds)
    assert fold_split.test == sorted(split.test)
    with pytest.raises(DataError, match="fold 5 does not exist"):
        loaded.split_for(5)


def test_a_test_split_that_cuts_a_lesion_is_refused() -> None:
    records = [Record("a1", "L1", "nv"), Record("a2", "L1", "nv"), Record("b1", "L2", "mel")]
    with pytest.raises(DataError, match="share a lesion with the test split"):
        make_folds(records, ["a1"], k=2)


def test_fold_and_folds_file_go_together_on_the_command_line() -> None:
    config = config_from_args(["--data", "d", "--folds-file", "f.json", "--fold", "3"])
    assert (config.folds_file, config.fold) == ("f.json", 3)
    with pytest.raises(SystemExit):
        config_from_args(["--data", "d", "--fold", "3"])
    with pytest.raises(SystemExit):
        config_from_args(["--data", "d", "--folds-file", "f.json", "--fold", "1", "--split-file", "s.json"])
