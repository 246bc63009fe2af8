"""Follow-up in the REST API: photos with their analyses (``photos``) and a lesion's change and flags (``change``)."""

from followup.api.change import FlagViewSet, LesionFollowUpViewSet
from followup.api.photos import LesionImageUploadViewSet, LesionImageViewSet, LesionTimelineViewSet

__all__ = [
    "FlagViewSet",
    "LesionFollowUpViewSet",
    "LesionImageUploadViewSet",
    "LesionImageViewSet",
    "LesionTimelineViewSet",
]
