"""What the app runs on a photo: preprocessing, the analysers (one model or an ensemble), Grad-CAM, overlays.

Imports only the shared engine modules (``labels``, ``architectures``, ``manifest``, ``data``), never
``training`` or ``evaluation``.
"""
