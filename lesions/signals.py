"""Signals the lesions app sends; other apps (``ml``) connect to them in their ``ready()``.

``lesion_image_stored`` is sent, inside the transaction that stores it, for every new photo
(``image=`` the LesionImage): the analysis app queues its analyses from there, so records
never import the analysis.
"""

from __future__ import annotations

from django.dispatch import Signal

lesion_image_stored = Signal()
