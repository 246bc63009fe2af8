"""HAM10000 metadata, the lesion-grouped split and images decoded once into memory."""

from __future__ import annotations

import csv
import json
import random
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ml.engine.labels import HAM10000_CLASSES

METADATA_NAME = "HAM10000_metadata.csv"
IMAGES_DIR = "images"
MASKS_DIR = "masks"
SPLIT_NAMES: tuple[str, ...] = ("train", "val", "test")
# The working copy's images are 200x150 (W x H); they are kept at that size in memory.
STORAGE_HEIGHT = 150
STORAGE_WIDTH = 200
# Classes with fewer lesions than this get one lesion on each side before the greedy fill.
SMALL_CLASS_LESIONS = 20


class DataError(ValueError):
    """The metadata or the image folder is missing or inconsistent."""


@dataclass(frozen=True)
class Record:
    """One metadata row: an image, the lesion it shows and its diagnosis."""

    image_id: str
    lesion_id: str
    dx: str
    # Patient context as the CSV gives it ("" when the column is absent); not part of the identity.
    age: str = field(default="", compare=False)
    sex: str = field(default="", compare=False)
    localization: str = field(default="", compare=False)

    @property
    def label(self) -> int:
        return HAM10000_CLASSES.index(self.dx)


def read_metadata(path: Path | str, image_ids: Sequence[str] | None = None) -> list[Record]:
    """Read ``HAM10000_metadata.csv`` (optionally only the given image ids, in file order)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"metadata file not found: {path}")
    wanted = set(image_ids) if image_ids is not None else None
    records: list[Record] = []
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"image_id", "lesion_id", "dx"} - set(reader.fieldnames or [])
        if missing:
            raise DataError(f"{path} lacks the columns {', '.join(sorted(missing))}")
        for row in reader:
            if wanted is not None and row["image_id"] not in wanted:
                continue
            if row["dx"] not in HAM10000_CLASSES:
                raise DataError(f"{path}: image {row['image_id']} has unknown class {row['dx']!r}")
            records.append(
                Record(
                    image_id=row["image_id"],
                    lesion_id=row["lesion_id"],
                    dx=row["dx"],
                    age=row.get("age") or "",
                    sex=row.get("sex") or "",
                    localization=row.get("localization") or "",
                )
            )
    return records


@dataclass
class Split:
    """Image ids of each side of a lesion-grouped, class-stratified split."""

    train: list[str]
    val: list[str]
    test: list[str]
    seed: int = 0
    fractions: list[float] = field(default_factory=lambda: [0.7, 0.15, 0.15])

    def ids(self, name: str) -> list[str]:
        if name not in SPLIT_NAMES:
            raise DataError(f"unknown split {name!r}; choose one of {', '.join(SPLIT_NAMES)}")
        return list(getattr(self, name))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, path: Path | str, **extra: Any) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {**extra, **self.to_dict()}
        path.write_text(json.dumps(data, indent=1) + "\n")
        return path

    @classmethod
    def load(cls, path: Path | str) -> Split:
        data = json.loads(Path(path).read_text())
        return cls(
            train=list(data["train"]),
            val=list(data["val"]),
            test=list(data["test"]),
            seed=int(data.get("seed", 0)),
            fractions=[float(x) for x in data.get("fractions", [0.7, 0.15, 0.15])],
        )


def split_by_lesion(records: Sequence[Record], fractions: Sequence[float] = (0.7, 0.15, 0.15), seed: int = 0) -> Split:
    """Split so that every lesion lies on one side only and each class keeps its proportions.

    Within each class the lesions are shuffled with ``seed`` and each goes to the side whose
    image count lags furthest behind its target, so multi-image lesions are balanced too.
    """
    if len(fractions) != 3 or abs(sum(fractions) - 1.0) > 1e-6 or min(fractions) < 0:
        raise DataError("fractions must be three non-negative numbers that sum to 1")
    lesion_images: dict[str, list[str]] = defaultdict(list)
    lesion_dx: dict[str, str] = {}
    for record in records:
        previous = lesion_dx.setdefault(record.lesion_id, record.dx)
        if previous != record.dx:
            raise DataError(f"lesion {record.lesion_id} has two diagnoses: {previous}, {record.dx}")
        lesion_images[record.lesion_id].append(record.image_id)
    rng = random.Random(seed)
    sides: list[list[str]] = [[], [], []]
    for dx in HAM10000_CLASSES:
        lesions = sorted(lesion for lesion, d in lesion_dx.items() if d == dx)
        rng.shuffle(lesions)
        total = sum(len(lesion_images[lesion]) for lesion in lesions)
        counts = [0, 0, 0]
        for position, lesion in enumerate(lesions):
            empty = [i for i in range(3) if counts[i] == 0 and fractions[i] > 0]
            if empty and 3 <= len(lesions) < SMALL_CLASS_LESIONS and position < 3:
                # Tiny classes: one lesion on each side first, so none is missing from val or test.
                side = empty[-1]
            else:
                deficits = [fractions[i] * total - counts[i] for i in range(3)]
                side = max(range(3), key=lambda i: (deficits[i], -i))
            counts[side] += len(lesion_images[lesion])
            sides[side].extend(lesion_images[lesion])
    return Split(
        train=sorted(sides[0]),
        val=sorted(sides[1]),
        test=sorted(sides[2]),
        seed=seed,
        fractions=[float(f) for f in fractions],
    )


def subsample(records: Sequence[Record], max_images: int, seed: int = 0) -> list[Record]:
    """A class-stratified subset of about ``max_images`` rows, whole lesions only (for tests)."""
    if max_images >= len(records):
        return list(records)
    by_lesion: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        by_lesion[record.lesion_id].append(record)
    rng = random.Random(seed)
    chosen: list[Record] = []
    per_class = max(1, max_images // len(HAM10000_CLASSES))
    for dx in HAM10000_CLASSES:
        lesions = sorted(lesion for lesion, rows in by_lesion.items() if rows[0].dx == dx)
        rng.shuffle(lesions)
        taken = 0
        for lesion in lesions:
            if taken >= per_class:
                break
            chosen.extend(by_lesion[lesion])
            taken += len(by_lesion[lesion])
    return chosen


def image_path(images_dir: Path | str, image_id: str) -> Path:
    """Where an image id lives (``.jpg`` first, then ``.png``/``.jpeg``)."""
    folder = Path(images_dir)
    for suffix in (".jpg", ".jpeg", ".png"):
        candidate = folder / f"{image_id}{suffix}"
        if candidate.is_file():
            return candidate
    raise DataError(f"image {image_id} not found in {folder}")


def mask_path(masks_dir: Path | str, image_id: str) -> Path | None:
    """The lesion segmentation mask of an image, or None when there is none."""
    candidate = Path(masks_dir) / f"{image_id}_segmentation.png"
    return candidate if candidate.is_file() else None


def _fit(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Aspect-preserving resize so the image covers height x width, then centre crop."""
    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return image
    scale = max(height / h, width / w)
    new_h, new_w = max(height, round(h * scale)), max(width, round(w * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    image = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
    top, left = (new_h - height) // 2, (new_w - width) // 2
    return image[top : top + height, left : left + width]


def decode_image(path: Path | str, height: int = STORAGE_HEIGHT, width: int = STORAGE_WIDTH) -> np.ndarray:
    """Decode one photo as RGB uint8 of shape (height, width, 3)."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DataError(f"cannot decode image {path}")
    return _fit(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), height, width)


def decode_mask(path: Path | str, height: int = STORAGE_HEIGHT, width: int = STORAGE_WIDTH) -> np.ndarray:
    """Decode a segmentation mask as uint8 (height, width), 255 = lesion, fitted like ``decode_image``."""
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise DataError(f"cannot decode mask {path}")
    return np.where(_fit(mask, height, width) >= 128, 255, 0).astype(np.uint8)


def load_images(
    images_dir: Path | str,
    image_ids: Sequence[str],
    height: int = STORAGE_HEIGHT,
    width: int = STORAGE_WIDTH,
    workers: int = 2,
) -> np.ndarray:
    """Decode images into one uint8 array of shape (N, 3, height, width)."""
    paths = [image_path(images_dir, image_id) for image_id in image_ids]
    out = np.empty((len(paths), 3, height, width), dtype=np.uint8)

    def _load(index: int) -> None:
        out[index] = decode_image(paths[index], height, width).transpose(2, 0, 1)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        list(pool.map(_load, range(len(paths))))
    return out


@dataclass
class InMemoryDataset:
    """Decoded images (uint8, N x 3 x H x W) with their labels and ids."""

    image_ids: list[str]
    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.image_ids)

    @classmethod
    def from_records(
        cls,
        images_dir: Path | str,
        records: Sequence[Record],
        height: int = STORAGE_HEIGHT,
        width: int = STORAGE_WIDTH,
    ) -> InMemoryDataset:
        ids = [r.image_id for r in records]
        return cls(
            image_ids=ids,
            images=load_images(images_dir, ids, height, width),
            labels=np.array([r.label for r in records], dtype=np.int64),
        )

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=len(HAM10000_CLASSES))


__all__ = [
    "IMAGES_DIR",
    "MASKS_DIR",
    "METADATA_NAME",
    "SPLIT_NAMES",
    "DataError",
    "InMemoryDataset",
    "Record",
    "Split",
    "decode_image",
    "decode_mask",
    "image_path",
    "load_images",
    "mask_path",
    "read_metadata",
    "split_by_lesion",
    "subsample",
]
