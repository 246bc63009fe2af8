from __future__ import annotations

from pathlib import Path

from django.test import Client
from django.urls import reverse

from lesions.models import LesionImage


def test_it_streams_the_photo_privately(clinician_client: Client, lesion_image: LesionImage) -> None:
    response = clinician_client.get(reverse("lesion-image-file", args=[lesion_image.uuid]))

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == Path(lesion_image.image.path).read_bytes()
    assert response["Content-Type"] == "image/jpeg"
    assert "no-store" in response["Cache-Control"]  # patient data: never cached (was private, max-age=3600)
    assert response["X-Content-Type-Options"] == "nosniff"


def test_it_answers_404_when_the_file_is_missing(clinician_client: Client, lesion_image: LesionImage) -> None:
    Path(lesion_image.image.path).unlink()

    response = clinician_client.get(reverse("lesion-image-file", args=[lesion_image.uuid]))

    assert response.status_code == 404


def test_it_is_not_served_from_a_public_media_url(lesion_image: LesionImage, client: Client) -> None:
    response = client.get(lesion_image.image.url)

    assert response.status_code == 404
