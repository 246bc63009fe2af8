"""``manage.py evaluate_segmentation`` wraps the engine's evaluation: prints the scores, writes the JSON."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch
from django.core.management import call_command
from django.core.management.base import CommandError

from ml.engine.segmentation.model import LesionUNet, save_segmentation_model
from tests.ml.engine.synthetic import make_ham_folder


@pytest.fixture
def seg_weights_dir(tmp_path: Path, settings) -> Path:
    torch.manual_seed(0)
    folder = tmp_path / "weights"
    save_segmentation_model(
        LesionUNet().eval(), folder / "seg.json", name="seg", encoder="tf_efficientnet_lite0", input_size=[3, 48, 64]
    )
    settings.ML_WEIGHTS_DIR = folder
    return folder


def test_it_prints_and_writes_the_scores(seg_weights_dir: Path, tmp_path: Path) -> None:
    ham = make_ham_folder(tmp_path / "ham", per_class=1)
    out = io.StringIO()
    report_path = tmp_path / "report.json"
    call_command(
        "evaluate_segmentation",
        "--images",
        str(ham / "images"),
        "--masks",
        str(ham / "masks"),
        "--json",
        str(report_path),
        stdout=out,
    )
    report = json.loads(report_path.read_text())
    assert report["model"] == "seg"  # the shipped one, found in ML_WEIGHTS_DIR
    assert report["n"] == 7
    assert 0.0 <= report["threshold_jaccard"] <= report["jaccard"] <= report["dice"] <= 1.0
    assert f"mean Dice          {report['dice']:.4f}" in out.getvalue()


def test_it_names_a_missing_model(seg_weights_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="no segmentation model named 'other'"):
        call_command("evaluate_segmentation", "--images", str(tmp_path), "--masks", str(tmp_path), "--model", "other")
