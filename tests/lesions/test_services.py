"""lesions.services: visits with photos are stored whole or not at all, files included."""

from __future__ import annotations

import datetime as dt
from io import BytesIO
from typing import Any

import pytest
from django.core.exceptions import ValidationError

import ml.services
import ml.tasks
from lesions.imaging import ImageRejected
from lesions.models import Lesion, LesionImage, Patient, Visit
from lesions.services import PhotoUpload, lesion_image_create, visit_create
from tests.factories import LesionFactory, VisitFactory, make_jpeg


class Boom(Exception):
    pass


def _photo() -> BytesIO:
    return BytesIO(make_jpeg())


def _new_lesion(label: str, photo: BytesIO | None = None) -> PhotoUpload:
    """A photo (the sample unless given) of a new head/neck lesion called ``label``."""
    return PhotoUpload(photo=photo or _photo(), new_lesion_label=label, new_lesion_body_site="head/neck")


def test_visit_create_stores_the_visit_and_its_photos(patient: Patient, clinician: Any, media_files: Any) -> None:
    lesion = LesionFactory(patient=patient)

    visit = visit_create(
        patient=patient,
        clinician=clinician,
        date=dt.date(2024, 1, 2),
        photos=[
            PhotoUpload(photo=_photo(), lesion=lesion),
            _new_lesion("Scalp"),
        ],
    )

    assert visit.images.count() == 2
    assert patient.lesions.count() == 2
    assert len(media_files()) == 4  # two photos and their thumbnails


def test_a_failure_after_the_file_was_written_leaves_no_file(
    lesion: Lesion, visit: Visit, media_files: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[str] = []

    def fail(*, image: LesionImage, **kwargs: Any) -> None:
        written.append(image.image.name)
        assert media_files(), "the photo is on disk when the analysis is queued"
        raise Boom

    monkeypatch.setattr(ml.services, "predictions_create_for_image", fail)

    with pytest.raises(Boom):
        lesion_image_create(lesion=lesion, visit=visit, photo=_photo())

    assert written
    assert media_files() == []
    assert not LesionImage.objects.exists()


def test_a_failing_row_save_leaves_no_file(
    lesion: Lesion, visit: Visit, media_files: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(self: LesionImage, *args: Any, **kwargs: Any) -> None:
        raise Boom

    monkeypatch.setattr(LesionImage, "save", fail)

    with pytest.raises(Boom):
        lesion_image_create(lesion=lesion, visit=visit, photo=_photo())

    assert media_files() == []


def test_a_failure_on_the_second_photo_removes_the_first_ones_file_too(
    patient: Patient, clinician: Any, media_files: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[LesionImage] = []

    def fail_second(*, image: LesionImage, **kwargs: Any) -> list[Any]:
        calls.append(image)
        if len(calls) == 2:
            assert len(media_files()) == 4  # two photos and their thumbnails
            raise Boom
        return []

    monkeypatch.setattr(ml.services, "predictions_create_for_image", fail_second)

    with pytest.raises(Boom):
        visit_create(
            patient=patient,
            clinician=clinician,
            photos=[_new_lesion("First"), _new_lesion("Second")],
        )

    assert len(calls) == 2
    assert media_files() == []
    assert not Visit.objects.exists()
    assert not Lesion.objects.exists()


def test_visit_create_rejects_a_bad_photo_before_writing_anything(
    patient: Patient, clinician: Any, media_files: Any
) -> None:
    with pytest.raises(ImageRejected):
        visit_create(
            patient=patient,
            clinician=clinician,
            photos=[_new_lesion("Good"), _new_lesion("Bad", BytesIO(b"junk"))],
        )

    assert not Visit.objects.exists()
    assert media_files() == []


def test_lesion_image_create_refuses_a_visit_of_another_patient(lesion: Lesion, media_files: Any) -> None:
    visit_of_someone_else = VisitFactory(patient__clinic=lesion.patient.clinic)

    with pytest.raises(ValidationError):
        lesion_image_create(lesion=lesion, visit=visit_of_someone_else, photo=_photo())

    assert media_files() == []


def test_lesion_image_create_refuses_an_unknown_image_type(lesion: Lesion, visit: Visit) -> None:
    with pytest.raises(ValidationError):
        lesion_image_create(lesion=lesion, visit=visit, photo=_photo(), image_type="x-ray")


def test_lesion_image_create_records_size_and_hash(lesion: Lesion, visit: Visit) -> None:
    import hashlib

    image = lesion_image_create(lesion=lesion, visit=visit, photo=_photo())

    content = image.image.read()
    assert image.sha256 == hashlib.sha256(content).hexdigest()
    assert image.file_size == len(content)


def test_lesion_image_create_queues_a_prediction_per_active_model(
    lesion: Lesion, visit: Visit, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ml.models import Prediction
    from tests.factories import ModelVersionFactory

    ModelVersionFactory(name="active")
    ModelVersionFactory(name="retired", is_active=False)
    sent: list[int] = []
    monkeypatch.setattr(ml.tasks, "prediction_send", lambda prediction_id: sent.append(prediction_id))

    with django_capture_on_commit_callbacks(execute=True):
        image = lesion_image_create(lesion=lesion, visit=visit, photo=_photo())

    (prediction,) = Prediction.objects.filter(image=image)
    assert prediction.model_version.name == "active"
    assert prediction.status == Prediction.Status.PENDING
    assert sent == [prediction.pk]


def test_lesion_image_create_does_not_analyse_without_a_model(lesion: Lesion, visit: Visit) -> None:
    image = lesion_image_create(lesion=lesion, visit=visit, photo=_photo())

    assert not image.predictions.exists()


def test_a_record_number_taken_by_a_concurrent_write_is_refused_on_its_field(
    patient: Patient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lesions.services import patient_create

    monkeypatch.setattr(Patient, "clean", lambda self: None)  # the clash appears only at INSERT

    with pytest.raises(ValidationError) as refused:
        patient_create(
            clinic=patient.clinic, medical_record_number=patient.medical_record_number, first_name="A", last_name="B"
        )

    taken = "Another patient of this clinic has this record number."
    assert refused.value.message_dict == {"medical_record_number": [taken]}
    assert Patient.objects.count() == 1
