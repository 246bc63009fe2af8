"""Signals the lesions app sends; other apps (``ml``) connect to them in their ``ready()``.

``lesion_image_stored`` is sent, inside the transaction that stores it, for every new photo
(``image=`` the LesionImage): the analysis app queues its analyses from there, so records
never import the analysis. ``lesion_changed`` is sent, once the change commits, when a lesion's
record changes (``lesion=``; e.g. its status or confirmed diagnosis): follow-up retires or raises
its flags from there.
"""

from __future__ import annotations

from django.dispatch import Signal

lesion_image_stored = Signal()
lesion_changed = Signal()
