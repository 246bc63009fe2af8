from __future__ import annotations

from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest
from django.views.decorators.http import require_GET

from clinic.files import stream_file
from clinic.selectors import get_for_user_or_404
from ml.models import Prediction


@login_required
@require_GET
def prediction_heatmap(request: HttpRequest, uuid: UUID) -> FileResponse:
    prediction = get_for_user_or_404(Prediction, request.user, uuid)
    if not prediction.heatmap:
        raise Http404("No heatmap for this prediction")
    return stream_file(prediction.heatmap, "image/png")


@login_required
@require_GET
def prediction_cam(request: HttpRequest, uuid: UUID) -> FileResponse:
    prediction = get_for_user_or_404(Prediction, request.user, uuid)
    if not prediction.cam:
        raise Http404("No map for this prediction")
    return stream_file(prediction.cam, "image/png")
