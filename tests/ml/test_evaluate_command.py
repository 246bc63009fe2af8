"""``manage.py evaluate``: without --model, exactly the analysis the app deploys by default."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.helpers import write_ensemble, write_tiny_model
from tests.ml.engine.synthetic import make_ham_folder


@pytest.fixture
def deployed(tmp_path: Path, settings) -> tuple[Path, Path]:
    ham = make_ham_folder(tmp_path / "ham", per_class=3)
    weights = tmp_path / "weights"
    for seed, name in enumerate(("m1", "m2")):
        write_tiny_model(weights, name, seed=seed)
    write_ensemble(weights, ["m1", "m2"], views=["identity", "vflip"], melanoma_threshold=0.1)
    settings.ML_WEIGHTS_DIR = weights
    settings.ML_DEFAULT_MODEL = ""
    return ham, weights


def test_without_a_model_it_evaluates_the_default_analysis_on_every_listed_image(
    deployed: tuple[Path, Path], tmp_path: Path
) -> None:
    ham, _ = deployed
    out = tmp_path / "report.json"
    args = ["--images", str(ham / "images"), "--metadata", str(ham / "HAM10000_metadata.csv"), "--json", str(out)]
    printed = io.StringIO()
    call_command("evaluate", *args, stdout=printed)
    report = json.loads(out.read_text())
    assert report["model"] == "deployed" and report["members"] == ["m1", "m2"]
    assert report["images"] == 7 * 3  # every row of the CSV
    metrics = report["metrics"]
    assert 0 <= metrics["accuracy"] <= 1 and 0 <= metrics["balanced_accuracy"] <= 1
    assert set(metrics["melanoma"]) >= {"sensitivity", "specificity", "auc"}
    assert metrics["melanoma_flag"]["threshold"] == 0.1
    assert set(metrics["melanoma_flag"]) >= {"threshold", "sensitivity", "specificity"}
    assert "melanoma flag" in printed.getvalue()  # the table printed names the flag's figures
    assert (tmp_path / "report.confusion.png").is_file()


def test_model_still_evaluates_one_model_and_an_unknown_one_is_refused(
    deployed: tuple[Path, Path], tmp_path: Path
) -> None:
    ham, _ = deployed
    args = ["--images", str(ham / "images"), "--metadata", str(ham / "HAM10000_metadata.csv")]
    out = tmp_path / "one.json"
    call_command("evaluate", "--model", "m1", *args, "--json", str(out), stdout=io.StringIO())
    report = json.loads(out.read_text())
    assert report["model"] == "m1" and report["members"] == []
    assert "melanoma_flag" not in report["metrics"]  # m1 has no threshold
    with pytest.raises(CommandError, match="no model named 'nope'"):
        call_command("evaluate", "--model", "nope", *args)
