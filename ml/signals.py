"""Signals the analysis app sends; apps above it (``followup``) connect to them in their ``ready()``.

``photo_analysed`` is sent, after the rows commit, each time a job of a photo finishes (an
analysis or its outline; ``image_id=``): follow-up aligns the photo with its lesion's other
photos and brings the lesion's flags up to date from there, so ``ml`` never imports ``followup``.
"""

from __future__ import annotations

from django.db import transaction
from django.dispatch import Signal

photo_analysed = Signal()


def photo_analysed_send(image_id: int) -> None:
    """Tell the apps above that a job of this photo finished (once the current transaction commits)."""
    transaction.on_commit(lambda: photo_analysed.send(sender=None, image_id=image_id))
