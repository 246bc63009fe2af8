"""``manage.py make_thumbnails``: the thumbnail of every photo stored before thumbnails existed (run once after
upgrading; the PDF report makes a missing one itself, so this only moves that first decode out of a request)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from PIL import UnidentifiedImageError

from lesions.models import LesionImage
from lesions.services import lesion_image_thumbnail_make


class Command(BaseCommand):
    help = "Make and store the thumbnail of every photo that has none (each photo is decoded once)."

    def handle(self, *args: Any, **options: Any) -> None:
        made = failed = 0
        for image in LesionImage.objects.filter(thumbnail="").order_by("pk").iterator(chunk_size=200):
            try:
                lesion_image_thumbnail_make(image=image)
            except (OSError, ValueError, UnidentifiedImageError) as exc:
                failed += 1
                self.stderr.write(f"photo {image.uuid}: its file cannot be read ({exc})")
                continue
            made += 1
        self.stdout.write(f"Made {made} thumbnail(s); {failed} photo file(s) could not be read.")
