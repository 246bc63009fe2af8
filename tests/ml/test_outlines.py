"""Lesion outlines in the analysis task: once per photo, on the photo the classifier decoded, never at its cost."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from PIL import Image

from lesions.models import LesionImage, Visit
from lesions.services import lesion_image_create
from ml import outlines, tasks
from ml.analysis import prediction_run
from ml.engine.inference.preprocess import ModelInput
from ml.engine.manifest import ManifestError
from ml.models import LesionOutline, Prediction
from ml.services import model_versions_sync
from tests.factories import LesionImageFactory, LesionOutlineFactory, PredictionFactory, make_jpeg
from tests.helpers import PASSING_TEST_METRICS, sample_photo, upload_visit, write_random_segmenter, write_tiny_model

# The factories' photo: a dark ellipse over the central half of each side, pi/16 of the photo.
ELLIPSE_FRACTION = np.pi / 16


def stored_photo(lesion: Any, photo: bytes | None = None) -> LesionImage:
    visit = Visit.objects.create(patient=lesion.patient)
    return lesion_image_create(lesion=lesion, visit=visit, photo=io.BytesIO(photo or make_jpeg(400, 300)))


@pytest.fixture
def no_broker(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Nothing is delivered: the test runs the work itself. Lists what was sent."""
    sent: list[tuple[str, int]] = []
    monkeypatch.setattr(tasks, "prediction_send", lambda pk: sent.append(("prediction", pk)))
    monkeypatch.setattr(tasks, "outline_send", lambda pk: sent.append(("outline", pk)))
    return sent


@pytest.fixture
def segment_calls(monkeypatch: pytest.MonkeyPatch, segmenter: Path) -> list[Any]:
    """What ``Segmenter.segment`` was given, call by call."""
    from ml.engine.segmentation.model import Segmenter

    calls: list[Any] = []
    original = Segmenter.segment

    def spy(self: Segmenter, image: Any) -> Any:
        calls.append(image)
        return original(self, image)

    monkeypatch.setattr(Segmenter, "segment", spy)
    return calls


def test_the_analysis_task_outlines_and_measures_the_lesion_and_records_the_heatmap_share(
    tiny_weights_dir, segmenter, lesion, no_broker
):
    image = stored_photo(lesion)
    outline = LesionOutline.objects.get(image=image)
    assert outline.status == LesionOutline.Status.PENDING

    prediction = prediction_run(prediction_id=image.predictions.get().pk)

    outline.refresh_from_db()
    assert prediction.status == Prediction.Status.DONE
    assert outline.status == LesionOutline.Status.DONE
    assert outline.segmenter_name == "dark_spot"
    assert outline.segmenter_sha256 == ManifestSha.of(segmenter)
    measured = outline.measured
    assert measured.area_fraction == pytest.approx(ELLIPSE_FRACTION, rel=0.08)
    assert measured.diameter_fraction == pytest.approx(0.5, rel=0.08)  # the ellipse's long axis: half the width
    assert measured.asymmetry < 0.1
    assert measured.sizes_are_relative and measured.area_mm2 is None
    with outline.mask.open("rb") as handle, Image.open(handle) as mask:
        assert mask.mode == "L" and abs(mask.width / mask.height - 400 / 300) < 0.01
        inside = np.asarray(mask) > 127
    assert inside.mean() == pytest.approx(ELLIPSE_FRACTION, rel=0.08)
    xs, ys = zip(*outline.polygon, strict=True)
    assert 90 <= min(xs) <= 110 and 290 <= max(xs) <= 310  # the ellipse spans x 100-300 of the 400-wide photo
    assert 65 <= min(ys) <= 85 and 215 <= max(ys) <= 235
    assert 0.0 <= prediction.cam_in_lesion <= 1.0
    assert outline.timings["total"] > 0


class ManifestSha:
    @staticmethod
    def of(path: Path) -> str:
        import json

        return json.loads(path.read_text())["weights_sha256"]


def test_the_outline_is_made_from_the_input_the_classifier_prepared_not_from_the_file(
    tiny_weights_dir, segment_calls, lesion, no_broker, monkeypatch
):
    image = stored_photo(lesion)
    monkeypatch.setattr(outlines, "_segment_file", lambda *a: pytest.fail("the photo was decoded a second time"))

    prediction_run(prediction_id=image.predictions.get().pk)

    assert len(segment_calls) == 1
    assert isinstance(segment_calls[0], ModelInput)
    given = segment_calls[0]
    assert (given.geometry.photo_width, given.geometry.photo_height) == (400, 300)
    assert given.photo.size == (200, 150)  # as the classifier decoded it (JPEG draft mode)
    assert LesionOutline.objects.get(image=image).status == LesionOutline.Status.DONE


def test_a_photo_analysed_by_two_models_is_outlined_once_and_both_heatmaps_get_their_share(
    tiny_weights_dir, segment_calls, lesion, no_broker
):
    write_tiny_model(tiny_weights_dir, "second_effnet", seed=1, metrics=PASSING_TEST_METRICS)
    model_versions_sync(weights_dir=tiny_weights_dir)
    image = stored_photo(lesion)
    first, second = image.predictions.all()

    prediction_run(prediction_id=first.pk)
    prediction_run(prediction_id=second.pk)

    assert len(segment_calls) == 1
    assert LesionOutline.objects.filter(image=image).count() == 1
    shares = list(image.predictions.values_list("cam_in_lesion", flat=True))
    assert len(shares) == 2 and all(share is not None for share in shares)


def test_a_segmenter_that_cannot_load_fails_the_outline_with_its_reason_and_keeps_the_classification(
    tiny_weights_dir, segmenter, lesion, no_broker, monkeypatch, client, clinician
):
    def broken(path: Path) -> Any:
        raise ManifestError("weights file dark_spot.safetensors does not match its manifest")

    monkeypatch.setattr(outlines, "segmenter_build", broken)
    image = stored_photo(lesion)

    prediction = prediction_run(prediction_id=image.predictions.get().pk)

    outline = LesionOutline.objects.get(image=image)
    assert prediction.status == Prediction.Status.DONE and prediction.probabilities
    assert outline.status == LesionOutline.Status.FAILED
    assert "could not be loaded" in outline.failure_reason and "does not match" in outline.failure_reason
    assert prediction.cam_in_lesion is None
    client.force_login(clinician)
    page = client.get(reverse("visit-detail", args=[image.visit.uuid])).content.decode()
    assert "The lesion could not be outlined" in page and "does not match its manifest" in page
    assert "data-pending" not in page


def test_an_error_while_segmenting_fails_the_outline_not_the_prediction(
    tiny_weights_dir, segmenter, lesion, no_broker, monkeypatch
):
    from ml.engine.segmentation.model import Segmenter

    def explode(self: Any, image: Any) -> Any:
        raise RuntimeError("out of memory in the decoder")

    monkeypatch.setattr(Segmenter, "segment", explode)
    image = stored_photo(lesion)

    prediction = prediction_run(prediction_id=image.predictions.get().pk)

    outline = LesionOutline.objects.get(image=image)
    assert prediction.status == Prediction.Status.DONE
    assert outline.status == LesionOutline.Status.FAILED
    assert outline.failure_reason == "Unexpected error: out of memory in the decoder"


def test_a_photo_the_classifier_cannot_read_fails_both_with_readable_reasons(
    tiny_weights_dir, segmenter, lesion, no_broker
):
    image = stored_photo(lesion)
    Path(image.image.path).write_bytes(b"garbage instead of a JPEG")

    prediction = prediction_run(prediction_id=image.predictions.get().pk)

    outline = LesionOutline.objects.get(image=image)
    assert prediction.status == Prediction.Status.FAILED
    assert outline.status == LesionOutline.Status.FAILED
    assert "could not be read" in outline.failure_reason


def test_a_photo_without_a_lesion_is_recorded_as_such_with_nothing_measured(
    tiny_weights_dir, segmenter, lesion, no_broker
):
    plain = io.BytesIO()
    Image.new("RGB", (400, 300), (224, 180, 150)).save(plain, "JPEG")
    image = stored_photo(lesion, plain.getvalue())

    prediction_run(prediction_id=image.predictions.get().pk)

    outline = LesionOutline.objects.get(image=image)
    assert outline.status == LesionOutline.Status.NO_LESION
    assert outline.measured is None and not outline.mask and outline.polygon == []


def test_without_a_segmentation_model_photos_get_no_outline_and_the_page_says_so(
    client, clinician, lesion, tiny_weights_dir, django_capture_on_commit_callbacks
):
    client.force_login(clinician)
    with django_capture_on_commit_callbacks(execute=True):
        response = upload_visit(client, lesion, sample_photo())

    assert Prediction.objects.get().status == Prediction.Status.DONE
    assert not LesionOutline.objects.exists()
    page = client.get(response["Location"]).content.decode()
    assert "Not outlined: no segmentation model was installed" in page
    assert "lesion-outline" not in page


def test_without_a_classifier_the_outline_is_made_by_its_own_task(
    client, clinician, lesion, segmenter, django_capture_on_commit_callbacks
):
    client.force_login(clinician)
    with django_capture_on_commit_callbacks(execute=True):
        upload_visit(client, lesion, sample_photo())

    image = LesionImage.objects.get()
    assert not image.predictions.exists()
    assert image.outline.status == LesionOutline.Status.DONE
    assert image.outline.measured.area_fraction > 0


def test_ml_segmentation_model_none_switches_outlining_off(tiny_weights_dir, segmenter, lesion, settings, no_broker):
    settings.ML_SEGMENTATION_MODEL = "none"

    image = stored_photo(lesion)

    assert not LesionOutline.objects.filter(image=image).exists()


def test_a_real_segmentation_model_is_loaded_verified_and_recorded(tiny_weights_dir, lesion, no_broker):
    manifest = write_random_segmenter(tiny_weights_dir)
    outlines.segmenters_clear()
    image = stored_photo(lesion)

    prediction_run(prediction_id=image.predictions.get().pk)

    outline = LesionOutline.objects.get(image=image)
    assert outline.status in {LesionOutline.Status.DONE, LesionOutline.Status.NO_LESION}
    assert outline.segmenter_name == "random_unet"
    assert outline.segmenter_sha256 == ManifestSha.of(manifest)
    outlines.segmenters_clear()


def test_reanalyse_outlines_backfills_photos_that_have_none(
    tiny_weights_dir, lesion, no_broker, request, django_capture_on_commit_callbacks
):
    old = stored_photo(lesion)  # analysed before any segmentation model was installed
    prediction_run(prediction_id=old.predictions.get().pk)
    assert not LesionOutline.objects.exists()
    request.getfixturevalue("segmenter")
    outlined = stored_photo(lesion)
    no_broker.clear()

    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("reanalyse", "--outlines", stdout=out)

    assert "Queued 1 photo(s) without an outline" in out.getvalue()

    assert no_broker == [("outline", LesionOutline.objects.get(image=old).pk)]  # not the photo that has one
    outlines.outline_run(outline_id=LesionOutline.objects.get(image=old).pk)
    backfilled = LesionOutline.objects.get(image=old)
    assert backfilled.status == LesionOutline.Status.DONE
    assert old.predictions.get().cam_in_lesion is not None  # its earlier heatmap now gets its share
    assert LesionOutline.objects.get(image=outlined).status == LesionOutline.Status.PENDING


def test_reanalyse_keeps_model_and_needs_something_to_do(tiny_weights_dir, lesion, no_broker):
    with pytest.raises(CommandError, match="--model NAME, --outlines"):
        call_command("reanalyse")
    with pytest.raises(CommandError, match="no segmentation model"):
        call_command("reanalyse", "--outlines")
    out = io.StringIO()
    call_command("reanalyse", "--model", "tiny_effnet", stdout=out)
    assert "Queued 0 photo(s) for analysis by tiny_effnet." in out.getvalue()


def test_the_heatmap_share_is_the_cam_mass_inside_the_mask(lesion, media_root):
    # A heatmap all on the left half; the factories' mask is the central ellipse: half of it on the left.
    cam = np.zeros((150, 200), dtype=np.uint8)
    cam[:, :100] = 255
    buffer = io.BytesIO()
    Image.fromarray(cam).save(buffer, "PNG")
    from django.core.files.base import ContentFile

    lesion_image = LesionImageFactory(lesion=lesion)
    prediction = PredictionFactory(image=lesion_image, cam=ContentFile(buffer.getvalue(), name="cam.png"))
    LesionOutlineFactory(image=lesion_image)

    assert outlines.cam_shares_update(image_id=lesion_image.pk) == 1

    prediction.refresh_from_db()
    ellipse_area_left = ELLIPSE_FRACTION * 200 * 150 / 2
    assert prediction.cam_in_lesion == pytest.approx(ellipse_area_left / (100 * 150), rel=0.03)
    assert outlines.cam_shares_update(image_id=lesion_image.pk) == 0  # recorded once


def test_the_sweep_requeues_outlines_no_task_will_make(lesion, no_broker, settings):
    from datetime import timedelta

    from django.utils import timezone

    settings.ML_PREDICTION_STUCK_AFTER = 60
    long_ago = timezone.now() - timedelta(minutes=10)
    orphan = LesionOutlineFactory(pending=True, image=LesionImageFactory(lesion=lesion))
    covered = LesionOutlineFactory(pending=True, image=LesionImageFactory(lesion=lesion))
    PredictionFactory(pending=True, image=covered.image)
    fresh = LesionOutlineFactory(pending=True, image=LesionImageFactory(lesion=lesion))
    LesionOutline.objects.filter(pk__in=[orphan.pk, covered.pk]).update(updated_at=long_ago)
    dead = LesionOutlineFactory(pending=True, image=LesionImageFactory(lesion=lesion))
    LesionOutline.objects.filter(pk=dead.pk).update(status="running", started_at=timezone.now() - timedelta(hours=2))

    assert tasks.outlines_requeue_stuck() == 2

    assert sorted(no_broker) == sorted([("outline", orphan.pk), ("outline", dead.pk)])
    assert fresh.pk not in [pk for _, pk in no_broker]


def test_a_later_analysis_of_an_outlined_photo_gives_the_share_its_heatmap_from_memory(
    tiny_weights_dir, segmenter, lesion, no_broker, monkeypatch
):
    write_tiny_model(tiny_weights_dir, "second_effnet", seed=1, metrics=PASSING_TEST_METRICS)
    model_versions_sync(weights_dir=tiny_weights_dir)
    image = stored_photo(lesion)
    first, second = image.predictions.all()
    prediction_run(prediction_id=first.pk)  # outlines the photo, then reads its heatmap back for the share
    read: list[str] = []
    read_png = outlines._read_png

    def spy(field: Any) -> Any:
        read.append(field.name)
        return read_png(field)

    monkeypatch.setattr(outlines, "_read_png", spy)

    second = prediction_run(prediction_id=second.pk)

    assert second.cam and second.cam_in_lesion is not None
    assert read == [LesionOutline.objects.get(image=image).mask.name]  # the mask only, not the heatmap just written
