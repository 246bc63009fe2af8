"""Recalibrating a shipped model: recall floors set on validation, the manifest rewritten consistently."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ml.engine.evaluation.decision_rule import softmax
from ml.engine.evaluation.evaluate import predict_logits
from ml.engine.evaluation.metrics import classification_metrics
from ml.engine.manifest import Manifest
from ml.engine.training.calibrate import main, parse_min_recall, recall_floor_offsets
from ml.engine.training.train import train
from tests.ml.engine.synthetic import make_ham_folder, tiny_config


def test_a_recall_floor_raises_only_that_class_by_the_smallest_step() -> None:
    # Class 1's images score 0.8, 0.75, 0.4 and 1.2 against class 0's 1.0: only one is recalled.
    logits = np.array(
        [[1.0, 0.0], [1.0, 0.0], [1.0, 0.8], [1.0, 0.75], [1.0, 0.4], [1.0, 1.2]],
    )
    labels = np.array([0, 0, 1, 1, 1, 1])

    bias = recall_floor_offsets(logits, labels, np.zeros(2), {1: 0.75}, step=0.05)

    assert bias[0] == 0.0
    # 3 of 4 needs 0.75 + b > 1.0: +0.25 only ties (argmax keeps class 0), so +0.30.
    assert bias[1] == pytest.approx(0.30)
    predictions = (logits + bias).argmax(axis=1)
    assert (predictions[labels == 1] == 1).mean() >= 0.75
    with pytest.raises(ValueError, match="cannot reach recall"):
        recall_floor_offsets(logits, labels, np.zeros(2), {1: 1.0}, step=0.05, limit=0.5)


def test_min_recall_arguments_are_checked() -> None:
    classes = ["akiec", "mel", "nv"]
    assert parse_min_recall(["mel=0.75"], classes) == {"mel": 0.75}
    for bad, message in [("mel", "CLASS=RECALL"), ("melanoma=0.7", "CLASS=RECALL"), ("mel=x", "not a number")]:
        with pytest.raises(ValueError, match=message):
            parse_min_recall([bad], classes)
    with pytest.raises(ValueError, match=r"in \(0, 1\]"):
        parse_min_recall(["mel=1.5"], classes)


def test_the_command_sets_a_melanoma_floor_and_re_measures_the_test_split(tmp_path: Path) -> None:
    ham = make_ham_folder(tmp_path / "ham", per_class=6)
    result = train(tiny_config(ham, tmp_path, max_steps=1, fit_logit_bias=False))
    before = Manifest.load(result.manifest_path)
    assert before.logit_bias is None

    assert (
        main(["--model", str(result.manifest_path), "--data", str(ham), "--min-recall", "mel=1.0", "--evaluate-test"])
        == 0
    )

    after = Manifest.load(result.manifest_path)
    assert after.weights_sha256 == before.weights_sha256
    assert after.training["calibration"]["min_recall"] == {"mel": 1.0}
    val_ids = json.loads(after.split_path.read_text())["val"]
    logits, labels = predict_logits(after.build_model(), after, ham / "images", ham / "HAM10000_metadata.csv", val_ids)
    probabilities = softmax(logits, after.temperature, np.asarray(after.logit_bias))
    assert classification_metrics(labels, probabilities)["melanoma"]["sensitivity"] == 1.0
    assert after.metrics["val"]["metrics"]["melanoma"]["sensitivity"] == 1.0
    assert after.metrics["test"]["images"] == len(json.loads(after.split_path.read_text())["test"])
    assert after.metrics["test"]["calibration"]["logit_bias"] == pytest.approx(after.logit_bias)


def test_the_command_refuses_an_unknown_class(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ham = make_ham_folder(tmp_path / "ham")
    result = train(tiny_config(ham, tmp_path, max_steps=1, fit_logit_bias=False))
    with pytest.raises(SystemExit) as exit_info:
        main(["--model", str(result.manifest_path), "--data", str(ham), "--min-recall", "scc=0.5"])
    assert exit_info.value.code == 2
    assert "CLASS one of akiec, bcc, bkl, df, mel, nv, vasc" in capsys.readouterr().err
