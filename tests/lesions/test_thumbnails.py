"""Each photo's thumbnail: made from the upload's decoded copy when the photo is stored, backfilled by a command."""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from PIL import Image

from lesions.models import LesionImage
from tests.factories import LesionImageFactory, make_jpeg, make_png


def thumbnail_size(image: LesionImage) -> tuple[int, int]:
    with image.thumbnail.open("rb") as handle, Image.open(handle) as picture:
        assert picture.format == "JPEG"
        return picture.size


def test_a_stored_photo_has_a_thumbnail_at_most_700_pixels_a_side(lesion: Any, visit: Any) -> None:
    large = LesionImageFactory(lesion=lesion, visit=visit, photo=make_png(1400, 1000))
    small = LesionImageFactory(lesion=lesion, visit=visit, photo=make_jpeg(200, 150))

    assert large.thumbnail.name == f"lesion_images/thumbnails/{large.uuid}.jpg"
    assert thumbnail_size(large) == (700, 500)
    assert thumbnail_size(small) == (200, 150)  # never enlarged


def test_make_thumbnails_backfills_the_photos_without_one_and_names_the_unreadable(
    lesion: Any, visit: Any, capsys: Any
) -> None:
    images = [LesionImageFactory(lesion=lesion, visit=visit, photo=make_jpeg(1600, 1200)) for _ in range(3)]
    for image in images:
        image.thumbnail.delete(save=False)
    images[2].image.delete(save=False)
    LesionImage.objects.update(thumbnail="")

    call_command("make_thumbnails")

    out = capsys.readouterr()
    assert "Made 2 thumbnail(s); 1 photo file(s) could not be read." in out.out
    assert str(images[2].uuid) in out.err
    refreshed = [LesionImage.objects.get(pk=image.pk) for image in images]
    assert [thumbnail_size(image) for image in refreshed[:2]] == [(700, 525), (700, 525)]
    assert refreshed[2].thumbnail.name == ""
