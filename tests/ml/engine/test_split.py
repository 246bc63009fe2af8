"""The split keeps every lesion on one side and each class's share on every side."""

from __future__ import annotations

import csv
import random
from collections import Counter
from pathlib import Path

import pytest

from ml.engine.data import Record, Split, read_metadata, split_by_lesion, subsample
from ml.engine.labels import HAM10000_CLASSES

REAL_METADATA = Path(__file__).resolve().parents[4] / "shared" / "data" / "ham10000" / "HAM10000_metadata.csv"
# The real imbalance of HAM10000, scaled down.
SYNTHETIC_LESIONS = {"akiec": 40, "bcc": 60, "bkl": 120, "df": 15, "mel": 110, "nv": 700, "vasc": 18}


def synthetic_records(seed: int = 1) -> list[Record]:
    rng = random.Random(seed)
    records = []
    for dx, lesions in SYNTHETIC_LESIONS.items():
        for n in range(lesions):
            lesion_id = f"HAM_{dx}_{n:04d}"
            for k in range(rng.choice([1, 1, 1, 2, 3, 4])):
                records.append(Record(image_id=f"ISIC_{dx}_{n:04d}_{k}", lesion_id=lesion_id, dx=dx))
    return records


def assert_valid_split(records: list[Record], split: Split, tolerance: float) -> None:
    sides = {"train": set(split.train), "val": set(split.val), "test": set(split.test)}
    all_ids = [i for ids in sides.values() for i in ids]
    assert sorted(all_ids) == sorted(r.image_id for r in records), "every image exactly once"

    lesion_sides: dict[str, set[str]] = {}
    side_of = {i: name for name, ids in sides.items() for i in ids}
    for record in records:
        lesion_sides.setdefault(record.lesion_id, set()).add(side_of[record.image_id])
    assert all(len(s) == 1 for s in lesion_sides.values()), "a lesion lies on two sides"

    dx_of = {r.image_id: r.dx for r in records}
    overall = Counter(r.dx for r in records)
    for name, ids in sides.items():
        counts = Counter(dx_of[i] for i in ids)
        for dx in HAM10000_CLASSES:
            share, expected = counts[dx] / len(ids), overall[dx] / len(records)
            assert abs(share - expected) <= tolerance, f"{name}: {dx} {share:.3f} vs {expected:.3f}"
    for name, fraction in zip(("train", "val", "test"), split.fractions, strict=True):
        assert abs(len(sides[name]) / len(records) - fraction) < 0.02


def test_synthetic_split_is_grouped_and_stratified() -> None:
    records = synthetic_records()
    split = split_by_lesion(records, seed=0)
    assert_valid_split(records, split, tolerance=0.03)


def test_split_is_reproducible_and_depends_on_the_seed() -> None:
    records = synthetic_records()
    assert split_by_lesion(records, seed=3) == split_by_lesion(list(reversed(records)), seed=3)
    assert split_by_lesion(records, seed=3).test != split_by_lesion(records, seed=4).test


def test_lesion_with_two_diagnoses_is_refused() -> None:
    records = [Record("a", "L1", "nv"), Record("b", "L1", "mel")]
    with pytest.raises(ValueError, match="two diagnoses"):
        split_by_lesion(records)


def test_split_round_trips_through_json(tmp_path: Path) -> None:
    split = split_by_lesion(synthetic_records(), seed=0)
    path = split.save(tmp_path / "split.json", grouping="lesion_id")
    assert Split.load(path) == split


def test_read_metadata_and_subsample_keep_whole_lesions(tmp_path: Path) -> None:
    records = synthetic_records()
    csv_path = tmp_path / "HAM10000_metadata.csv"
    with csv_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization"])
        for r in records:
            writer.writerow([r.lesion_id, r.image_id, r.dx, "histo", "50.0", "male", "back"])
    assert read_metadata(csv_path) == records
    subset = subsample(read_metadata(csv_path), 100, seed=0)
    assert {r.dx for r in subset} == set(HAM10000_CLASSES)
    chosen = {r.lesion_id for r in subset}
    assert sorted(r.image_id for r in subset) == sorted(r.image_id for r in records if r.lesion_id in chosen)


@pytest.mark.data
@pytest.mark.skipif(not REAL_METADATA.is_file(), reason="HAM10000 working copy not present")
def test_real_metadata_split_is_grouped_and_stratified() -> None:
    records = read_metadata(REAL_METADATA)
    split = split_by_lesion(records, seed=0)
    assert_valid_split(records, split, tolerance=0.01)
