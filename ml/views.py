from __future__ import annotations

from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponseBase
from django.views.decorators.http import require_GET

from clinic.files import stream_file
from clinic.selectors import get_for_user_or_404
from ml.models import Prediction


def _prediction_png(request: HttpRequest, uuid: UUID, field: str, missing: str) -> HttpResponseBase:
    """One of an analysis's PNGs, through the one access check (404 for another clinic's)."""
    prediction = get_for_user_or_404(Prediction, request.user, uuid)
    file = getattr(prediction, field)
    if not file:
        raise Http404(missing)
    return stream_file(file, "image/png")


@login_required
@require_GET
def prediction_heatmap(request: HttpRequest, uuid: UUID) -> HttpResponseBase:
    return _prediction_png(request, uuid, "heatmap", "No heatmap for this prediction")


@login_required
@require_GET
def prediction_cam(request: HttpRequest, uuid: UUID) -> HttpResponseBase:
    return _prediction_png(request, uuid, "cam", "No map for this prediction")
