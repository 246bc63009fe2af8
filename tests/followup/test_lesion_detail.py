from __future__ import annotations

import datetime as dt
from typing import Any

from django.test import Client
from django.urls import reverse

from lesions.models import Lesion
from tests.factories import LesionImageFactory, VisitFactory


def test_it_shows_photos_newest_visit_first(clinician_client: Client, lesion: Lesion) -> None:
    # Entered out of order: the latest visit first, an old one recorded afterwards.
    dates = [dt.date(2024, 3, 1), dt.date(2023, 1, 10), dt.date(2023, 9, 20)]
    images = {d: LesionImageFactory(lesion=lesion, visit=VisitFactory(patient=lesion.patient, date=d)) for d in dates}

    response = clinician_client.get(reverse("lesion-detail", args=[lesion.uuid]))

    newest_first = sorted(dates, reverse=True)
    assert [entry.date for entry in response.context["timeline"]] == newest_first
    html = response.content.decode()
    positions = [html.index(reverse("lesion-image-file", args=[images[d].uuid])) for d in newest_first]
    assert positions == sorted(positions)
    assert response.context["image_count"] == 3


def test_it_groups_photos_of_the_same_visit(clinician_client: Client, lesion: Lesion, visit: Any) -> None:
    LesionImageFactory.create_batch(2, lesion=lesion, visit=visit)

    response = clinician_client.get(reverse("lesion-detail", args=[lesion.uuid]))

    (entry,) = response.context["timeline"]
    assert entry.visit == visit
    assert len(entry.images) == 2


def test_it_does_not_show_photos_of_other_lesions(clinician_client: Client, lesion: Lesion, visit: Any) -> None:
    other = LesionImageFactory(lesion__patient=lesion.patient, visit=visit)

    response = clinician_client.get(reverse("lesion-detail", args=[lesion.uuid]))

    assert response.context["image_count"] == 0
    assert str(other.uuid) not in response.content.decode()
    assert "No photos of this lesion yet." in response.content.decode()


def test_it_links_to_a_new_photo_of_this_lesion(clinician_client: Client, lesion: Lesion) -> None:
    response = clinician_client.get(reverse("lesion-detail", args=[lesion.uuid]))

    assert f"{reverse('visit-create', args=[lesion.patient.uuid])}?lesion={lesion.uuid}" in response.content.decode()
