"""The report prints photos from their stored thumbnails: a report never decodes a full-size photo."""

from __future__ import annotations

from collections.abc import Callable
from io import BytesIO
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from PIL import ImageFile
from pypdf import PdfReader

from lesions.imaging import THUMBNAIL_MAX_SIDE
from lesions.models import LesionImage, Patient, Visit
from tests.factories import LesionFactory, LesionImageFactory, make_png


@pytest.fixture
def decoded_sizes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The size of every picture Pillow decodes from now on (a JPEG in draft mode: the reduced size)."""
    sizes: list[tuple[int, int]] = []
    load = ImageFile.ImageFile.load

    def spy(self: ImageFile.ImageFile) -> Any:
        sizes.append(self.size)
        return load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    return sizes


def large_photos(patient: Patient, visit: Visit, count: int) -> list[LesionImage]:
    # PNG: no draft mode, so a report made from the photo itself decodes every pixel of it. Sizes differ a
    # little (all 4:3) so that the PDF does not store identical pictures once.
    return [
        LesionImageFactory(
            lesion=LesionFactory(patient=patient), visit=visit, photo=make_png(1600 + 8 * n, 1200 + 6 * n)
        )
        for n in range(count)
    ]


def report(client: Client, visit: Visit) -> Any:
    return client.get(reverse("visit-report-pdf", args=[visit.uuid]))


def pictures_in(content: bytes) -> list[Any]:
    return [image.image for page in PdfReader(BytesIO(content)).pages for image in page.images]


def test_a_report_of_six_large_photos_decodes_none_of_them_at_full_size(
    clinician_client: Client, patient: Patient, visit: Visit, decoded_sizes: list[tuple[int, int]]
) -> None:
    large_photos(patient, visit, 6)
    decoded_sizes.clear()

    response = report(clinician_client, visit)
    decoded = list(decoded_sizes)

    assert response.status_code == 200
    assert len(decoded) >= 6  # each photo's thumbnail was read (Pillow may enter load() twice per picture)
    assert all(max(size) <= THUMBNAIL_MAX_SIDE for size in decoded), decoded
    pictures = pictures_in(response.content)
    assert len(pictures) == 6
    assert all(picture.size == (700, 525) for picture in pictures)  # printed from the 4:3 thumbnails


def test_a_photo_stored_before_thumbnails_gets_one_from_its_first_report_only(
    clinician_client: Client,
    patient: Patient,
    visit: Visit,
    decoded_sizes: list[tuple[int, int]],
    media_files: Callable[[], list[Any]],
) -> None:
    (image,) = large_photos(patient, visit, 1)
    image.thumbnail.delete(save=False)
    LesionImage.objects.filter(pk=image.pk).update(thumbnail="")
    decoded_sizes.clear()

    first = report(clinician_client, visit)
    decoded_first = list(decoded_sizes)
    decoded_sizes.clear()
    second = report(clinician_client, visit)

    image.refresh_from_db()
    assert image.thumbnail.name == f"lesion_images/thumbnails/{image.uuid}.jpg"
    assert len(media_files()) == 2  # the photo and its one thumbnail
    assert (1600, 1200) in decoded_first  # the photo decoded once, to make the thumbnail
    assert all(max(size) <= THUMBNAIL_MAX_SIDE for size in decoded_sizes)  # never again
    assert len(pictures_in(first.content)) == len(pictures_in(second.content)) == 1


def test_a_photo_whose_file_is_gone_is_reported_missing_without_a_thumbnail(
    clinician_client: Client, patient: Patient, visit: Visit
) -> None:
    (image,) = large_photos(patient, visit, 1)
    image.thumbnail.delete(save=False)
    image.image.delete(save=False)
    LesionImage.objects.filter(pk=image.pk).update(thumbnail="")

    response = report(clinician_client, visit)

    assert response.status_code == 200
    assert pictures_in(response.content) == []
    assert LesionImage.objects.get(pk=image.pk).thumbnail.name == ""
