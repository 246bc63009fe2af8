"""Follow-up change: photos of one lesion registered from the skin around it, and what changed between them.

Imports the shared engine modules and ``segmentation`` (the measurements it compares); never
``training`` or ``evaluation``.
"""
