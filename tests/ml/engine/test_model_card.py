"""The model card is written from the manifests and the saved evaluation reports, numbers unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ml.engine.evaluation.evaluate import evaluate
from ml.engine.evaluation.model_card import build, main, pct, target_verdict
from ml.engine.training.train import train
from tests.ml.engine.synthetic import make_ham_folder, tiny_config


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("card")
    ham = make_ham_folder(root / "ham")
    result = train(tiny_config(ham, root, max_steps=1, fit_logit_bias=False))
    report = evaluate(result.manifest_path, ham / "images", ham / "HAM10000_metadata.csv", split="test").to_dict()
    report["command"] = "python manage.py evaluate --model tiny --split test"
    report_path = root / "tiny.test.json"
    report_path.write_text(json.dumps(report))
    return root / "weights", report_path, ham / "HAM10000_metadata.csv"


def test_the_card_carries_the_reports_numbers_split_and_recipe(trained: tuple[Path, Path, Path]) -> None:
    weights, report_path, metadata = trained
    report = json.loads(report_path.read_text())

    card = build(weights, [report], metadata, notes="Measured on a toy folder.")

    accuracy = pct(report["metrics"]["accuracy"])
    assert f"| `tiny` | {report['images']} | {accuracy} |" in card
    assert "`python manage.py evaluate --model tiny --split test`" in card
    assert "for `tiny`: NOT met**" in card
    split = json.loads((weights / "tiny.split.json").read_text())
    assert f"| test | {len(split['test'])} |" in card
    assert "- Command: `pytest`" in card
    assert "## Notes\n\nMeasured on a toy folder." in card
    assert "CC BY-NC 4.0" in card and "28 dermoscopic JPEGs" in card


def test_the_command_line_writes_the_card(trained: tuple[Path, Path, Path], tmp_path: Path) -> None:
    weights, report_path, metadata = trained
    out = tmp_path / "MODEL_CARD.md"
    assert (
        main(
            [
                "--weights-dir",
                str(weights),
                "--report",
                str(report_path),
                "--metadata",
                str(metadata),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert out.read_text().startswith("# DermaTrack model card")


def test_the_bar_verdict_needs_all_four_numbers() -> None:
    def report(accuracy: float, balanced: float, flag_sens: float | None, flag_spec: float | None) -> dict[str, object]:
        metrics: dict[str, object] = {"accuracy": accuracy, "balanced_accuracy": balanced}
        if flag_sens is not None:
            metrics["melanoma_flag"] = {"threshold": 0.1, "sensitivity": flag_sens, "specificity": flag_spec}
        return {"model": "m", "metrics": metrics}

    assert ": met** (85.0% / 72.0% / 90.0% / 82.0%)" in target_verdict(report(0.85, 0.72, 0.90, 0.82))
    assert "NOT met" in target_verdict(report(0.849, 0.80, 0.95, 0.90))
    assert "NOT met" in target_verdict(report(0.90, 0.719, 0.95, 0.90))
    assert "NOT met" in target_verdict(report(0.90, 0.80, 0.89, 0.90))
    assert "NOT met" in target_verdict(report(0.90, 0.80, 0.95, 0.81))
    assert "NOT met" in target_verdict(report(0.90, 0.80, None, None))  # a model without a melanoma flag


def test_the_follow_up_section_states_the_bands_and_the_warning_rate(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from ml.engine.evaluation.model_card import followup_section

    ensemble = SimpleNamespace(
        name="deployed",
        metrics={
            "test": {
                "metrics": {
                    "melanoma_operating_points": [
                        {
                            "name": "flagged",
                            "threshold": 0.05,
                            "chosen_on": "validation",
                            "sensitivity": 0.9,
                            "specificity": 0.7,
                            "rule_with_borderline": {"sensitivity": 0.93, "specificity": 0.65},
                        },
                        {
                            "name": "high",
                            "threshold": 0.3,
                            "chosen_on": "validation",
                            "sensitivity": 0.5,
                            "specificity": 0.95,
                        },
                    ]
                }
            },
            "explanation": {
                "measure": "share on the lesion / share of the photo",
                "warning_below_concentration": 1.4,
                "chosen_on": "validation",
                "test_rate_correct": 0.09,
                "test_rate_wrong": 0.2,
                "test_photos_with_outline": 1300,
                "median_concentration_test_correct": 3.1,
            },
        },
    )
    text = "\n".join(followup_section([ensemble], tmp_path))  # type: ignore[list-item]
    assert "| flagged | 0.0500 | validation | 90.0% | 70.0% |" in text
    assert "flagged or borderline (the app's rule)" in text and "93.0%" in text
    assert "warns below 1.40" in text and "fires on 9.0% of correctly classified photos" in text
