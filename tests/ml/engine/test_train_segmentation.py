"""Segmentation training on a tiny HAM10000-layout folder, its loss and augmentation, and the scores."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ml.engine.data import Split
from ml.engine.evaluation.segmentation import (
    dice_score,
    jaccard_score,
    run_from_args,
    summarise,
    threshold_jaccard,
)
from ml.engine.manifest import ManifestError
from ml.engine.segmentation.model import SegmentationManifest, Segmenter
from ml.engine.training.augment import AugmentConfig
from ml.engine.training.segmentation import (
    augment_pair,
    config_from_args,
    dice_bce_loss,
    train_segmentation,
)
from tests.ml.engine.synthetic import make_ham_folder, tiny_seg_config


@pytest.fixture(scope="module")
def ham_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_ham_folder(tmp_path_factory.mktemp("ham"))


# -- scores by hand --------------------------------------------------------------------------------
def test_dice_and_jaccard_by_hand() -> None:
    truth = np.array([[1, 1, 0, 0], [1, 1, 0, 0]], dtype=bool)  # 4 pixels
    prediction = np.array([[0, 1, 1, 0], [0, 1, 1, 0]], dtype=bool)  # 4 pixels, 2 shared
    assert dice_score(prediction, truth) == pytest.approx(2 * 2 / (4 + 4))
    assert jaccard_score(prediction, truth) == pytest.approx(2 / 6)
    assert dice_score(truth, truth) == jaccard_score(truth, truth) == 1.0
    empty = np.zeros_like(truth)
    assert dice_score(empty, empty) == jaccard_score(empty, empty) == 1.0
    assert dice_score(empty, truth) == jaccard_score(empty, truth) == 0.0
    with pytest.raises(ValueError):
        dice_score(truth, truth[:, :2])


def test_threshold_jaccard_counts_images_below_065_as_zero() -> None:
    assert threshold_jaccard([0.9, 0.7, 0.6, 0.65]) == pytest.approx((0.9 + 0.7 + 0.0 + 0.65) / 4)
    report = summarise("m", ["a", "b"], [0.9, 0.5], [0.8, 0.4])
    assert report.n == 2
    assert (report.dice, report.jaccard, report.threshold_jaccard) == pytest.approx((0.7, 0.6, 0.4))
    assert report.per_image_stats["share_below_cutoff"] == 0.5
    assert report.per_image[1] == {"image_id": "b", "dice": 0.5, "jaccard": 0.4}


# -- loss and augmentation -------------------------------------------------------------------------
def test_dice_bce_loss_is_small_when_right_and_large_when_wrong() -> None:
    target = torch.zeros(2, 1, 8, 8)
    target[:, :, 2:6, 2:6] = 1.0
    right = dice_bce_loss(target * 40 - 20, target)
    wrong = dice_bce_loss(20 - target * 40, target)
    assert float(right) < 0.01
    assert float(wrong) > 2.0
    # The Dice term weighs in: without it the loss is plain BCE.
    plain = dice_bce_loss(torch.zeros(2, 1, 8, 8), target, dice_weight=0.0)
    assert float(plain) == pytest.approx(float(torch.log(torch.tensor(2.0))), abs=1e-6)


def test_the_mask_moves_with_its_image() -> None:
    rng = np.random.default_rng(0)
    masks = np.zeros((6, 1, 30, 40), dtype=np.uint8)
    for i in range(6):
        top, left = rng.integers(0, 15), rng.integers(0, 20)
        masks[i, 0, top : top + 12, left : left + 16] = 255
    images = np.repeat(masks, 3, axis=1)  # the image is white exactly where the mask is
    no_colour = AugmentConfig(brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0)
    generator = torch.Generator().manual_seed(1)
    out_images, out_masks = augment_pair(
        torch.from_numpy(images), torch.from_numpy(masks), 24, 32, no_colour, generator
    )
    assert out_images.shape == (6, 3, 24, 32) and out_masks.shape == (6, 1, 24, 32)
    assert torch.allclose(out_images[:, :1], out_masks, atol=1e-5)
    # ... and the geometry did change (rotations and flips), so the test means something.
    resized = torch.nn.functional.interpolate(torch.from_numpy(masks).float() / 255, size=(24, 32))
    assert (out_masks - resized).abs().mean() > 0.05


# -- a tiny run ------------------------------------------------------------------------------------
def test_two_step_training_writes_a_loadable_verified_model(ham_folder: Path, tmp_path: Path) -> None:
    result = train_segmentation(tiny_seg_config(ham_folder, tmp_path))

    manifest = SegmentationManifest.load(result.manifest_path)
    assert manifest.input_size == [3, 48, 64]
    assert manifest.mean == [0.5, 0.5, 0.5]
    assert manifest.training["history"][0]["step"] == 2
    assert set(manifest.metrics["val"]) == {"val_dice", "val_jaccard", "val_threshold_jaccard"}
    split = Split.load(manifest.split_path)  # type: ignore[arg-type]
    assert not (
        set(split.train) & set(split.val) or set(split.train) & set(split.test) or set(split.val) & set(split.test)
    )
    assert manifest.metrics["test"]["n"] == len(split.test) > 0
    assert 0.0 <= manifest.metrics["test"]["dice"] <= 1.0
    report = json.loads((tmp_path / "weights" / "reports" / "tiny_seg.test.json").read_text())
    assert report["dice"] == manifest.metrics["test"]["dice"]
    assert (tmp_path / "runs" / "tiny_seg" / "last.pt").is_file()
    assert (tmp_path / "runs" / "tiny_seg" / "log.jsonl").read_text().count("\n") == 1

    image_id = split.test[0]
    segmenter = Segmenter.from_manifest(result.manifest_path)
    with Image.open(ham_folder / "images" / f"{image_id}.jpg") as photo:
        seg = segmenter.segment(photo)
    assert seg.mask.shape == (60, 80)

    weights = manifest.weights_path
    weights.write_bytes(weights.read_bytes()[:-1] + b"\x00")
    with pytest.raises(ManifestError):
        Segmenter.from_manifest(result.manifest_path)


def test_resume_continues_the_run_and_a_shipped_split_is_referenced_not_copied(
    ham_folder: Path, tmp_path: Path
) -> None:
    weights = tmp_path / "weights"
    first = train_segmentation(tiny_seg_config(ham_folder, tmp_path, output="seg_a"))
    shipped_split = weights / "seg_a.split.json"
    config = tiny_seg_config(ham_folder, tmp_path, output="seg_b", split_file=str(shipped_split))
    train_segmentation(config)
    resumed = train_segmentation(
        tiny_seg_config(
            ham_folder, tmp_path, output="seg_b", split_file=str(shipped_split), resume=True, epochs=2, max_steps=4
        )
    )
    assert [entry["epoch"] for entry in resumed.history] == [1, 2]
    assert resumed.history[-1]["step"] == 4
    manifest = SegmentationManifest.load(resumed.manifest_path)
    assert manifest.split_file == "seg_a.split.json"
    assert not (weights / "seg_b.split.json").exists()
    assert Split.load(shipped_split).test == Split.load(SegmentationManifest.load(first.manifest_path).split_path).test  # type: ignore[arg-type]


def test_evaluation_command_writes_the_json_report(ham_folder: Path, tmp_path: Path) -> None:
    result = train_segmentation(tiny_seg_config(ham_folder, tmp_path))
    out_file = tmp_path / "report.json"
    args = argparse.Namespace(
        images=str(ham_folder / "images"),
        masks=str(ham_folder / "masks"),
        model=str(result.manifest_path),
        split="test",
        json=str(out_file),
        limit=None,
        batch_size=8,
        device=None,
    )
    printed = io.StringIO()
    run_from_args(args, out=printed)
    report = json.loads(out_file.read_text())
    assert {"dice", "jaccard", "threshold_jaccard", "n", "per_image_stats"} <= set(report)
    assert report["n"] == SegmentationManifest.load(result.manifest_path).metrics["test"]["n"]
    assert report["dice"] == pytest.approx(SegmentationManifest.load(result.manifest_path).metrics["test"]["dice"])
    assert "threshold Jaccard" in printed.getvalue()
    # Without --split every photo of the folder with a mask is scored.
    args.split, args.json = None, None
    assert run_from_args(args, out=io.StringIO())["n"] == 28


def test_command_line_defaults() -> None:
    config = config_from_args(["--data", "d", "--split-file", "s.json", "--time-budget-min", "90", "--resume"])
    assert config.image_size == (144, 192)
    assert config.split_file == "s.json"
    assert config.time_budget_min == 90 and config.resume
    assert config.pretrained == "imagenet-package"
    assert config.command.endswith(
        "ml.engine.training.segmentation --data d --split-file s.json --time-budget-min 90 --resume"
    )
