"""The ensemble builder chooses on validation, and the app's runtime reproduces its test numbers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from ml.engine.evaluation.evaluate import evaluate
from ml.engine.evaluation.report import EvaluationReport
from ml.engine.inference.ensemble import Ensemble
from ml.engine.inference.ensemble_manifest import EnsembleManifest, load_manifest
from ml.engine.training.build_ensemble import main as build_main
from ml.engine.training.train import train
from tests.ml.engine.synthetic import make_ham_folder, tiny_config


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("build")
    ham = make_ham_folder(root / "ham", per_class=12)
    first = train(tiny_config(ham, root, output="first", max_steps=2))
    split = str(Path(first.manifest_path).with_name("first.split.json"))
    train(tiny_config(ham, root, output="second", arch="tf_efficientnet_lite1", max_steps=2, split_file=split))
    return ham, root / "weights"


@dataclass
class Built:
    code: int
    manifest_path: Path
    measured: EvaluationReport  # the app's runtime on the test split


@pytest.fixture(scope="module")
def built(trained: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The ensemble of ``first`` and ``second``, built once (the builder's search is most of this module's
    time) and evaluated by the app's runtime on the test split."""
    ham, weights = trained
    code = build_main(
        [
            "--data", str(ham), "--members", "first", "second", "--output", "tiny_ensemble",
            "--out-dir", str(weights), "--cache", str(tmp_path_factory.mktemp("cache")), "--max-gflops", "1000",
        ]
    )  # fmt: skip
    path = weights / "tiny_ensemble.json"
    return Built(code, path, evaluate(path, ham / "images", ham / "HAM10000_metadata.csv", split="test"))


def test_build_writes_an_ensemble_the_app_reproduces(trained: tuple[Path, Path], built: Built) -> None:
    _, weights = trained
    assert built.code == 0
    manifest = load_manifest(built.manifest_path)
    assert isinstance(manifest, EnsembleManifest)
    report = json.loads((weights / "reports" / "tiny_ensemble.build.json").read_text())
    assert report["chosen"] == manifest.training["choice"]["description"]
    levers = [row["lever"] for row in report["ablation"]]
    assert levers[0] == "chosen analysis" and any(lever.startswith("backbone") for lever in levers)
    assert all("test" in row and "val" in row for row in report["ablation"])
    assert manifest.melanoma_threshold is not None

    # What the builder measured on the test split is what the app's runtime gives on it.
    built_metrics = manifest.metrics["test"]["metrics"]
    measured = built.measured
    assert measured.metrics["confusion_matrix"] == built_metrics["confusion_matrix"]
    sensitivity, specificity = (built_metrics["melanoma_flag"][key] for key in ("sensitivity", "specificity"))
    assert measured.metrics["melanoma_flag"]["sensitivity"] == pytest.approx(sensitivity)
    assert measured.metrics["melanoma_flag"]["specificity"] == pytest.approx(specificity)
    assert measured.members == [m["name"] for m in manifest.members]
    with Ensemble.from_manifest(manifest) as ensemble:
        assert len(ensemble.models) == len(manifest.members)


def test_members_from_another_split_are_refused(trained: tuple[Path, Path], tmp_path: Path) -> None:
    ham, weights = trained
    other = train(tiny_config(ham, tmp_path, output="other", max_steps=1, seed=7, out_dir=str(weights)))
    assert other.manifest_path.is_file()
    code = build_main(["--data", str(ham), "--members", "first", "other", "--output", "x", "--out-dir", str(weights)])
    assert code == 2
    assert not (weights / "x.json").exists()


def test_the_model_card_describes_the_ensemble_and_its_ablation(trained: tuple[Path, Path], built: Built) -> None:
    from ml.engine.evaluation.model_card import build as build_card

    _, weights = trained
    report = built.measured
    card = build_card(weights, [report.to_dict()])
    assert "## The deployed analysis" in card and "### `tiny_ensemble`" in card
    build_report = json.loads((weights / "reports" / "tiny_ensemble.build.json").read_text())
    for row in build_report["ablation"]:
        assert f"| {row['lever']} |" in card
    assert "Melanoma flag: P(mel) ≥" in card
    members = " + ".join(f"`{m}`" for m in report.members)
    assert f"for `tiny_ensemble` ({members}): NOT met" in card  # the bar verdict names the members
