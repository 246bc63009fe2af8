"""A two-step training run on a tiny HAM10000-layout folder yields a loadable, evaluated model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ml.engine.evaluation.decision_rule import softmax
from ml.engine.evaluation.evaluate import evaluate, predict_logits
from ml.engine.inference.views import VIEWS, apply_view, undo_view
from ml.engine.manifest import Manifest
from ml.engine.training.augment import AugmentConfig, augment_batch
from ml.engine.training.loop import build_scheduler
from ml.engine.training.train import class_weights, config_from_args, selection_score, train
from tests.ml.engine.synthetic import make_ham_folder, tiny_config


@pytest.fixture(scope="module")
def ham_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_ham_folder(tmp_path_factory.mktemp("ham"))


def test_two_step_training_writes_a_loadable_evaluated_model(ham_folder: Path, tmp_path: Path) -> None:
    result = train(tiny_config(ham_folder, tmp_path))

    manifest = Manifest.load(result.manifest_path)
    model = manifest.build_model()
    assert model(torch.zeros(1, 3, 48, 64)).shape == (1, 7)
    assert manifest.input_size == [3, 48, 64]
    assert manifest.mean == [0.5, 0.5, 0.5]
    assert manifest.temperature > 0
    assert manifest.logit_bias is not None and len(manifest.logit_bias) == 7
    assert manifest.metrics["test"]["images"] == len(json.loads(manifest.split_path.read_text())["test"])
    assert 0.0 <= manifest.metrics["test"]["metrics"]["accuracy"] <= 1.0
    assert manifest.metrics["test"]["localisation"]["images"] > 0
    assert manifest.training["hardware"]["torch_threads"] == 1
    assert manifest.training["history"][0]["step"] == 2
    assert (tmp_path / "runs" / "tiny" / "last.pt").is_file()
    assert (tmp_path / "runs" / "tiny" / "log.jsonl").read_text().count("\n") == 1

    split = json.loads(manifest.split_path.read_text())
    train_ids, val_ids, test_ids = set(split["train"]), set(split["val"]), set(split["test"])
    assert not (train_ids & val_ids or train_ids & test_ids or val_ids & test_ids)
    assert len(train_ids | val_ids | test_ids) == 7 * 4

    # The report evaluate() gives agrees with the app's classifier on the calibrated probabilities.
    from ml.engine.inference.classifier import Classifier

    report = evaluate(result.manifest_path, ham_folder / "images", ham_folder / "HAM10000_metadata.csv", split="test")
    assert report.images == len(test_ids)
    stored = manifest.metrics["test"]["metrics"]
    assert report.metrics["confusion_matrix"] == stored["confusion_matrix"]
    assert report.metrics["balanced_accuracy"] == pytest.approx(stored["balanced_accuracy"], abs=1e-5)
    first = sorted(test_ids)[0]
    with (
        Classifier.from_manifest(result.manifest_path) as classifier,
        Image.open(ham_folder / "images" / f"{first}.jpg") as photo,
    ):
        analysis = classifier.analyse(photo, gradcam=False)
    logits, _ = predict_logits(
        manifest.build_model(), manifest, ham_folder / "images", ham_folder / "HAM10000_metadata.csv", [first]
    )
    expected = softmax(logits, manifest.temperature, np.asarray(manifest.logit_bias))[0]
    assert list(analysis.probabilities.values()) == pytest.approx(expected.tolist(), abs=1e-4)


def test_resume_continues_after_the_saved_epoch(ham_folder: Path, tmp_path: Path) -> None:
    train(tiny_config(ham_folder, tmp_path, max_steps=None, epochs=1, batch_size=16, fit_logit_bias=False))
    resumed = train(
        tiny_config(ham_folder, tmp_path, max_steps=None, epochs=2, batch_size=16, resume=True, fit_logit_bias=False)
    )
    assert [entry["epoch"] for entry in resumed.history] == [1, 2]
    assert Manifest.load(resumed.manifest_path).logit_bias is None


def test_fp16_weights_are_stored_as_half(ham_folder: Path, tmp_path: Path) -> None:
    result = train(tiny_config(ham_folder, tmp_path, max_steps=1, fp16_weights=True))
    manifest = Manifest.load(result.manifest_path)
    assert manifest.weights_dtype == "float16"
    assert next(manifest.build_model().parameters()).dtype == torch.float32


def test_cli_arguments_become_the_config() -> None:
    config = config_from_args(
        ["--data", "d", "--arch", "resnet50", "--image-size", "96", "128", "--max-steps", "2", "--hub-pretrained"]
    )
    assert config.arch == "resnet50"
    assert config.image_size == (96, 128)
    assert config.max_steps == 2
    assert config.pretrained == "hub"
    assert "--max-steps 2" in config.command


def test_class_weights_soften_inverse_frequency() -> None:
    weights = class_weights(np.array([100, 25, 1]), power=0.5)
    assert weights[1] / weights[0] == pytest.approx(2.0)
    assert weights[2] / weights[0] == pytest.approx(10.0)
    assert float((weights * torch.tensor([100.0, 25.0, 1.0])).sum()) == pytest.approx(126.0)


def test_schedule_warms_up_then_decays() -> None:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = build_scheduler(optimizer, total_steps=100, warmup=10, lr=1.0)

    def lr_at(update: int) -> float:
        scheduler.step_update(num_updates=update)
        return float(optimizer.param_groups[0]["lr"])

    assert lr_at(0) == pytest.approx(0.01)  # warm-up starts at 1% of the peak
    assert lr_at(5) == pytest.approx(0.01 + 0.99 * 5 / 10)
    assert lr_at(10) == pytest.approx(1.0)
    assert lr_at(99) < 0.05
    # Training feeds the further along of updates and the time budget: at the end, the floor.
    assert lr_at(100) == pytest.approx(0.01)


def test_augmentations_keep_shape_range_and_vary() -> None:
    images = torch.randint(0, 256, (4, 3, 30, 40), dtype=torch.uint8)
    generator = torch.Generator().manual_seed(0)
    a = augment_batch(images, 48, 64, AugmentConfig(), generator)
    b = augment_batch(images, 48, 64, AugmentConfig(), generator)
    assert a.shape == (4, 3, 48, 64)
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    assert not torch.allclose(a, b)
    still = AugmentConfig(
        rotate=False,
        flip=False,
        zoom=(1.0, 1.0),
        stretch=0.0,
        translate=0.0,
        brightness=0.0,
        contrast=0.0,
        saturation=0.0,
        hue=0.0,
    )
    flat = torch.full((1, 3, 30, 40), 128, dtype=torch.uint8)
    out = augment_batch(flat, 30, 40, still, generator)
    assert torch.allclose(out, torch.full_like(out, 128 / 255), atol=1e-4)
    image = torch.arange(6.0).view(1, 1, 2, 3)
    views = [apply_view(image, name) for name in VIEWS]
    assert len(views) == 8 and views[4].shape == (1, 1, 3, 2)
    assert len({tuple(v.flatten().tolist()) + tuple(v.shape) for v in views}) == 8
    assert all(torch.equal(undo_view(v, name), image) for v, name in zip(views, VIEWS, strict=True))


def test_distillation_from_a_teacher_manifest(ham_folder: Path, tmp_path: Path) -> None:
    teacher = train(tiny_config(ham_folder, tmp_path, output="teacher", max_steps=1, fit_logit_bias=False))
    student = train(
        tiny_config(
            ham_folder, tmp_path, output="student", arch="resnet18", max_steps=2, teacher=str(teacher.manifest_path)
        )
    )
    manifest = Manifest.load(student.manifest_path)
    assert manifest.architecture == "resnet18"
    assert manifest.training["config"]["teacher"] == str(teacher.manifest_path)
    assert manifest.mean == [0.485, 0.456, 0.406]


def test_second_stage_starts_from_an_earlier_model_on_its_saved_split(ham_folder: Path, tmp_path: Path) -> None:
    first = train(tiny_config(ham_folder, tmp_path, output="stage1", max_steps=1, fit_logit_bias=False))
    first_manifest = Manifest.load(first.manifest_path)
    split_file = first_manifest.split_path
    # Zero steps of training: the second stage's weights are exactly the first stage's.
    second = train(
        tiny_config(
            ham_folder,
            tmp_path,
            output="stage2",
            max_steps=1,
            lr=0.0,
            ema_decay=0.0,
            init_from=str(first.manifest_path),
            split_file=str(split_file),
            fit_logit_bias=False,
        )
    )
    second_manifest = Manifest.load(second.manifest_path)
    assert json.loads(second_manifest.split_path.read_text())["test"] == json.loads(split_file.read_text())["test"]
    assert second_manifest.training["pretrained"]["source"] == "init-from stage1.json"
    (stage,) = second_manifest.training["earlier_stages"]
    assert stage["name"] == "stage1" and stage["weights_sha256"] == first_manifest.weights_sha256
    assert stage["command"] == "pytest" and stage["epochs_run"] == 1
    # (BatchNorm running statistics move with any forward pass in training mode; parameters must not.)
    before = dict(first_manifest.build_model().named_parameters())
    after = dict(second_manifest.build_model().named_parameters())
    assert before.keys() == after.keys()
    assert all(torch.equal(before[key], after[key]) for key in before)


def test_a_split_file_naming_unknown_images_is_refused(ham_folder: Path, tmp_path: Path) -> None:
    bad = tmp_path / "split.json"
    bad.write_text(json.dumps({"train": ["ISIC_nope"], "val": [], "test": []}))
    with pytest.raises(ValueError, match="1 image ids not in the metadata"):
        train(tiny_config(ham_folder, tmp_path, split_file=str(bad)))


def test_selection_score_mean_weighs_accuracy_and_balanced_accuracy() -> None:
    entry = {"val_accuracy": 0.9, "val_balanced_accuracy": 0.6}
    assert selection_score(entry, "balanced_accuracy") == pytest.approx(0.6)
    assert selection_score(entry, "mean") == pytest.approx(0.75)
    with pytest.raises(ValueError, match="unknown selection metric"):
        selection_score(entry, "auc")


def test_distillation_from_an_ensemble_teacher_averages_its_members(ham_folder: Path, tmp_path: Path) -> None:
    from ml.engine.training.gpu_recipe import _mean_teacher
    from ml.engine.training.train import _teacher_probabilities

    for seed, name in ((0, "a"), (1, "b")):
        train(tiny_config(ham_folder, tmp_path, output=name, max_steps=1, seed=seed, fit_logit_bias=False))
    weights = tmp_path / "weights"
    teacher = _mean_teacher(weights, ["a", "b"])
    config = tiny_config(ham_folder, tmp_path, output="student", teacher=str(teacher))
    from ml.engine.data import InMemoryDataset, read_metadata

    records = read_metadata(ham_folder / "HAM10000_metadata.csv")[:5]
    dataset = InMemoryDataset.from_records(ham_folder / "images", records)
    mean = _teacher_probabilities(config, dataset, torch.device("cpu"))
    single = [
        _teacher_probabilities(
            tiny_config(ham_folder, tmp_path, teacher=str(weights / f"{n}.json")), dataset, torch.device("cpu")
        )
        for n in ("a", "b")
    ]
    assert mean.shape == (5, 7)
    assert np.allclose(mean.sum(axis=1), 1.0, atol=1e-5)
    assert np.allclose(mean, (single[0] + single[1]) / 2, atol=1e-5)
    student = train(config)
    assert Manifest.load(student.manifest_path).training["config"]["teacher"] == str(teacher)


def test_a_checkpoint_of_the_earlier_loop_resumes_its_weights_and_history(ham_folder: Path, tmp_path: Path) -> None:
    train(tiny_config(ham_folder, tmp_path, max_steps=None, epochs=1, batch_size=16, fit_logit_bias=False))
    checkpoint = tmp_path / "runs" / "tiny" / "last.pt"
    state = torch.load(checkpoint, weights_only=False)
    # The earlier loop saved no scheduler, an EMA update count and its own AdamW grouping.
    del state["scheduler"]
    state["ema_updates"] = state["step"]
    state["optimizer"]["param_groups"] = state["optimizer"]["param_groups"][::-1]
    torch.save(state, checkpoint)
    resumed = train(
        tiny_config(ham_folder, tmp_path, max_steps=None, epochs=2, batch_size=16, resume=True, fit_logit_bias=False)
    )
    assert [entry["epoch"] for entry in resumed.history] == [1, 2]
    assert resumed.history[1]["step"] == 2 * resumed.history[0]["step"]
