"""From upload to finished prediction in eager mode, and the ways an analysis can fail."""

from __future__ import annotations

import io
import json
from html import unescape
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse
from PIL import Image

from lesions.models import LesionImage, Visit
from lesions.services import lesion_image_create
from ml.analysis import classifiers_clear, prediction_run
from ml.engine.labels import CLASS_NAMES, HAM10000_CLASSES
from ml.models import ModelVersion, Prediction
from ml.services import model_versions_sync, predictions_queue_missing
from tests.helpers import PASSING_TEST_METRICS, SAMPLE_PHOTOS_DIR, sample_photo, upload_visit, write_tiny_model

# Tests run inside a transaction that never commits: django_capture_on_commit_callbacks(execute=True)
# runs the queued analyses (eager tasks) where a commit would.


def test_it_analyses_an_uploaded_photo_and_shows_the_heatmap(
    client, clinician, lesion, tiny_weights_dir, django_capture_on_commit_callbacks
):
    client.force_login(clinician)
    with django_capture_on_commit_callbacks(execute=True):
        response = upload_visit(client, lesion, sample_photo())
    assert response.status_code == 302

    prediction = Prediction.objects.get()
    assert prediction.status == Prediction.Status.DONE
    assert set(prediction.probabilities) == set(HAM10000_CLASSES)
    assert abs(sum(prediction.probabilities.values()) - 1) < 1e-3
    assert prediction.top_class == max(prediction.probabilities, key=prediction.probabilities.get)
    assert prediction.heatmap and prediction.cam and prediction.timings["total"] > 0

    visit_page = client.get(response["Location"])
    html = unescape(visit_page.content.decode())
    assert reverse("prediction-heatmap", args=[prediction.uuid]) in html
    assert all(name in html for name in CLASS_NAMES.values())
    assert "not a diagnosis" in html
    assert "data-pending" not in html

    heatmap = client.get(reverse("prediction-heatmap", args=[prediction.uuid]))
    assert heatmap.status_code == 200
    overlay = Image.open(io.BytesIO(b"".join(heatmap.streaming_content)))
    photo = LesionImage.objects.get()
    assert abs(overlay.width / overlay.height - photo.width / photo.height) < 0.02


def test_it_shows_pending_analyses_with_a_polling_marker(client, clinician, lesion, tiny_weights_dir, monkeypatch):
    monkeypatch.setattr("ml.tasks.prediction_send", lambda prediction_id: None)  # broker that never delivers
    client.force_login(clinician)
    upload_visit(client, lesion, sample_photo())
    image = LesionImage.objects.get()
    assert image.predictions.get().status == Prediction.Status.PENDING

    partial = client.get(reverse("lesion-image-analysis", args=[image.uuid]))
    assert partial.status_code == 200
    assert b"data-pending" in partial.content

    prediction_run(prediction_id=image.predictions.get().pk)
    partial = client.get(reverse("lesion-image-analysis", args=[image.uuid]))
    assert b"data-pending" not in partial.content
    assert b"Melanoma" in partial.content


def test_it_runs_a_prediction_only_once(clinician, lesion, tiny_weights_dir, monkeypatch):
    monkeypatch.setattr("ml.tasks.prediction_send", lambda prediction_id: None)
    visit = Visit.objects.create(patient=lesion.patient)
    image = lesion_image_create(lesion=lesion, visit=visit, photo=sample_photo())
    prediction = image.predictions.get()

    assert prediction_run(prediction_id=prediction.pk) is not None
    assert prediction_run(prediction_id=prediction.pk) is None  # already done: the claim fails
    prediction.refresh_from_db()
    assert prediction.status == Prediction.Status.DONE
    assert prediction.attempts == 1


def test_a_corrupt_weights_file_ends_as_a_failed_prediction_shown_on_the_page(
    client,
    clinician,
    lesion,
    tiny_weights_dir,
    django_capture_on_commit_callbacks,
):
    weights = next(tiny_weights_dir.glob("*.safetensors"))
    weights.write_bytes(b"not a safetensors file at all")
    classifiers_clear()
    client.force_login(clinician)
    with django_capture_on_commit_callbacks(execute=True):
        upload_visit(client, lesion, sample_photo())

    prediction = Prediction.objects.get()
    assert prediction.status == Prediction.Status.FAILED
    assert "does not match its manifest" in prediction.failure_reason
    page = client.get(reverse("lesion-detail", args=[lesion.uuid])).content.decode()
    assert "Analysis failed" in page
    assert "does not match its manifest" in page
    assert "data-pending" not in page


def test_an_unreadable_stored_photo_ends_as_a_failed_prediction(clinician, lesion, tiny_weights_dir, monkeypatch):
    monkeypatch.setattr("ml.tasks.prediction_send", lambda prediction_id: None)
    visit = Visit.objects.create(patient=lesion.patient)
    image = lesion_image_create(lesion=lesion, visit=visit, photo=sample_photo())
    Path(image.image.path).write_bytes(b"garbage instead of a JPEG")

    prediction = prediction_run(prediction_id=image.predictions.get().pk)
    assert prediction.status == Prediction.Status.FAILED
    assert "could not be read" in prediction.failure_reason


def test_it_registers_manifests_and_prefers_the_efficientnet_as_default(tiny_weights_dir):
    write_tiny_model(tiny_weights_dir, "aaa_resnet", architecture="resnet18")
    model_versions_sync(weights_dir=tiny_weights_dir)
    versions = {v.name: v for v in ModelVersion.objects.all()}
    assert set(versions) == {"tiny_effnet", "aaa_resnet"}
    assert versions["tiny_effnet"].is_default and not versions["aaa_resnet"].is_default

    (tiny_weights_dir / "aaa_resnet.json").unlink()
    model_versions_sync(weights_dir=tiny_weights_dir)
    assert not ModelVersion.objects.get(name="aaa_resnet").is_active


def test_ml_active_models_leaves_the_other_models_registered_but_not_run(tiny_weights_dir, settings, lesion):
    write_tiny_model(tiny_weights_dir, "aaa_resnet", architecture="resnet18", metrics=PASSING_TEST_METRICS)
    settings.ML_ACTIVE_MODELS = ["tiny_effnet"]
    model_versions_sync(weights_dir=tiny_weights_dir)
    versions = {v.name: v for v in ModelVersion.objects.all()}
    assert versions["tiny_effnet"].is_active and versions["tiny_effnet"].is_default
    assert not versions["aaa_resnet"].is_active and not versions["aaa_resnet"].is_default

    visit = Visit.objects.create(patient=lesion.patient)
    image = lesion_image_create(lesion=lesion, visit=visit, photo=sample_photo())
    assert [p.model_version.name for p in image.predictions.all()] == ["tiny_effnet"]

    settings.ML_ACTIVE_MODELS = []
    model_versions_sync(weights_dir=tiny_weights_dir)
    assert ModelVersion.objects.get(name="aaa_resnet").is_active


def test_ml_active_models_naming_a_missing_model_is_refused(tiny_weights_dir, settings):
    settings.ML_ACTIVE_MODELS = ["no_such_model"]
    with pytest.raises(ValueError, match="ML_ACTIVE_MODELS names models without a manifest: no_such_model"):
        model_versions_sync(weights_dir=tiny_weights_dir)


def test_reanalyse_queues_photos_without_a_prediction_by_the_new_model(
    clinician, lesion, tiny_weights_dir, settings, django_capture_on_commit_callbacks
):
    visit = Visit.objects.create(patient=lesion.patient)
    with django_capture_on_commit_callbacks(execute=True):
        lesion_image_create(lesion=lesion, visit=visit, photo=sample_photo())
        lesion_image_create(lesion=lesion, visit=visit, photo=sample_photo())
    write_tiny_model(tiny_weights_dir, "second_model", seed=1, metrics=PASSING_TEST_METRICS)
    model_versions_sync(weights_dir=tiny_weights_dir)
    new = ModelVersion.objects.get(name="second_model")

    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("reanalyse", "--model", "second_model", stdout=out)
    assert "Queued 2 photo(s)" in out.getvalue()
    assert Prediction.objects.filter(model_version=new, status=Prediction.Status.DONE).count() == 2
    assert predictions_queue_missing(version=new) == 0


def test_classify_prints_one_json_object_per_image(tiny_weights_dir, tmp_path):
    photos = sorted(SAMPLE_PHOTOS_DIR.glob("*.jpg"))[:2]
    out = io.StringIO()
    call_command("classify", *map(str, photos), "--heatmap-dir", str(tmp_path / "maps"), stdout=out)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["image"] for r in records] == [str(p) for p in photos]
    for record in records:
        assert record["model"] == "tiny_effnet"
        assert set(record["probabilities"]) == set(HAM10000_CLASSES)
        assert record["confidence"] == record["probabilities"][record["top_class"]]
        assert Path(record["heatmap"]).is_file()


def test_classify_reports_unreadable_images(tiny_weights_dir, tmp_path):
    from django.core.management.base import CommandError

    bad = tmp_path / "notes.jpg"
    bad.write_text("not an image")
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 of 1"):
        call_command("classify", str(bad), stdout=out)
    assert "cannot read image" in json.loads(out.getvalue())["error"]


def test_without_models_the_page_says_photos_are_not_analysed(client, clinician, lesion, settings, tmp_path):
    settings.ML_WEIGHTS_DIR = tmp_path
    ModelVersion.objects.all().delete()
    client.force_login(clinician)
    upload_visit(client, lesion, sample_photo())
    assert not Prediction.objects.exists()
    page = client.get(reverse("lesion-detail", args=[lesion.uuid])).content.decode()
    assert "No model is installed" in page


def test_classify_without_a_model_name_runs_the_deployed_ensemble(tiny_weights_dir, tmp_path):
    from tests.helpers import write_ensemble

    write_ensemble(tiny_weights_dir, ["tiny_effnet"], name="deployed", melanoma_threshold=0.2)
    out = io.StringIO()
    call_command("classify", str(sorted(SAMPLE_PHOTOS_DIR.glob("*.jpg"))[0]), stdout=out)
    (record,) = [json.loads(line) for line in out.getvalue().splitlines()]
    assert record["model"] == "deployed"  # the ensemble, preferred as the app's default is
    assert record["melanoma_threshold"] == 0.2 and isinstance(record["melanoma_flag"], bool)
    assert len(record["melanoma_range"]) == 2  # one member on two views: a spread of readings
