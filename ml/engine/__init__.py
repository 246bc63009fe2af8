"""The analysis engine: plain PyTorch and timm, no Django. Rooms by purpose, as in timm.

- ``labels``, ``architectures``, ``manifest``, ``data``, ``pretrained``: shared by every room; they
  import no room (``labels`` and reading a manifest need no torch).
- ``inference``: what the app runs on a photo (preprocessing, classifier and ensemble, Grad-CAM,
  views, patient context, fusion, overlays); it imports only the shared modules.
- ``segmentation``: the lesion outline and its measurements; shared modules and ``inference``.
- ``change``: follow-up photos registered from the skin and what changed between them; also
  ``segmentation``.
- ``evaluation``: metrics, the decision rules and their fitting, reports, the model card; it may
  use ``inference`` and ``segmentation``, never ``training``.
- ``training``: trainers, augmentations, folds, calibration, ensemble building, the GPU recipe;
  it may use every other room.
"""
