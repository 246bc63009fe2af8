"""Follow-up in the REST API: photos with their analyses (``photos``) and a lesion's change and flags (``change``)."""
