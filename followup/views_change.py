"""Follow-up pages that act on change: reviewing a flag, the clinic's flags awaiting review, the aligned photo."""

from __future__ import annotations

import io
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from clinic.selectors import clinics_for_user, get_for_user_or_404
from followup import flags_sync, selectors
from followup.models import LesionFlag, PhotoAlignment
from lesions.models import LesionImage

ALIGNED_MAX_SIDE = 1024


@login_required
@require_POST
def flag_review(request: HttpRequest, uuid: UUID) -> HttpResponse:
    """Mark an open flag reviewed with the clinician's reason, then back to the lesion."""
    flag = get_for_user_or_404(LesionFlag, request.user, uuid, LesionFlag.objects.select_related("lesion"))
    try:
        flags_sync.flag_review(flag=flag, reviewed_by=request.user, reason=request.POST.get("reason", ""))
    except ValidationError as exc:
        messages.error(request, " ".join(m for ms in exc.message_dict.values() for m in ms))
    else:
        messages.success(request, f"“{flag.title}” marked reviewed.")
    return HttpResponseRedirect(flag.lesion.get_absolute_url())


@login_required
@require_GET
def clinic_flags(request: HttpRequest) -> HttpResponse:
    """Flags awaiting review in the user's clinics, newest first, each linking to its lesion."""
    flags = list(selectors.open_flags(clinics_for_user(request.user))[:500])
    return render(request, "followup/clinic_flags.html", {"flags": flags})


@login_required
@require_GET
def lesion_image_aligned(request: HttpRequest, uuid: UUID, reference: UUID) -> HttpResponse:
    """The photo warped into the reference photo's frame (JPEG at most 1024 long), when the two were aligned."""
    import numpy as np
    from PIL import Image

    from ml.engine.change.registration import Registration, warp_to_reference

    photo = get_for_user_or_404(LesionImage, request.user, uuid)
    ref = get_for_user_or_404(LesionImage, request.user, reference)
    alignment = PhotoAlignment.objects.filter(photo=photo, reference=ref).first()
    if photo.lesion_id != ref.lesion_id or alignment is None or not alignment.is_aligned or not alignment.matrix:
        raise Http404("These photos have not been aligned.")
    scale = min(1.0, ALIGNED_MAX_SIDE / max(ref.width, ref.height))
    size = (max(1, round(ref.width * scale)), max(1, round(ref.height * scale)))
    with photo.image.open("rb") as handle, Image.open(handle) as picture:
        picture.draft("RGB", (ALIGNED_MAX_SIDE, ALIGNED_MAX_SIDE))
        rgb = picture.convert("RGB")
    # The stored transform maps stored photo pixels to stored reference pixels: adapt both ends.
    m = np.asarray(alignment.matrix, dtype=np.float64).copy()
    sx = photo.width / rgb.size[0]
    m[:, :2] *= sx * scale
    m[:, 2] *= scale
    matrix: Any = ((m[0, 0], m[0, 1], m[0, 2]), (m[1, 0], m[1, 1], m[1, 2]))
    warped = warp_to_reference(np.asarray(rgb), Registration(status="aligned", matrix=matrix), size)
    buffer = io.BytesIO()
    Image.fromarray(warped).save(buffer, "JPEG", quality=88)
    return HttpResponse(buffer.getvalue(), content_type="image/jpeg")
