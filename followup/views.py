"""Pages that line up records with their analyses: patient, lesion history, comparison, visit, report, agreement."""

from __future__ import annotations

from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from assessment.models import assessment_of
from clinic.audit import audit_access, audit_list_view
from clinic.selectors import get_for_user_or_404, scoped
from followup import agreement, body_map, compare, flags, report, timeline, worklists
from followup import selectors as followup_selectors
from followup.melanoma import melanoma_reading
from followup.models import LesionFlag
from followup.timeline import usable_prediction
from lesions.models import Lesion, LesionImage, Patient, Visit
from ml import selectors
from ml.models import outline_of


@login_required
@require_GET
def patient_detail(request: HttpRequest, uuid: UUID) -> HttpResponse:
    patient = get_for_user_or_404(Patient, request.user, uuid)
    visits = patient.visits.select_related("clinician").prefetch_related("images__lesion")
    lesions = list(patient.lesions.all())
    body_map.number_lesions(lesions)
    followups = flags.patient_followups(
        lesions,
        selectors.images_with_predictions().filter(lesion__patient=patient),
        patient_visit_dates=patient.visits.values_list("date", flat=True),
        open_flags=followup_selectors.open_flags_by_lesion(lesions),
    )
    return render(
        request,
        "followup/patient_detail.html",
        {
            "patient": patient,
            "lesions": [f.lesion for f in followups],
            "followups": followups,
            "markers": body_map.body_map_markers(followups),
            "visits": visits,
        },
    )


@login_required
@require_GET
def lesion_detail(request: HttpRequest, uuid: UUID) -> HttpResponse:
    """The lesion's history: flags, trend chart and every visit, newest first."""
    lesion = get_for_user_or_404(Lesion, request.user, uuid, Lesion.objects.select_related("patient"))
    all_flags = list(followup_selectors.lesion_flags(lesion))
    state, photos, _ = followup_selectors.lesion_state(lesion)
    history = flags.lesion_followup(
        lesion,
        photos,
        patient_visit_dates=lesion.patient.visits.values_list("date", flat=True),
        open_flags=[f for f in all_flags if f.is_open],
    )
    latest_prediction = usable_prediction(state.latest.predictions.all()) if state.latest is not None else None
    siblings = list(lesion.patient.lesions.all())
    body_map.number_lesions(siblings)
    lesion.number = next(s.number for s in siblings if s.pk == lesion.pk)
    return render(
        request,
        "followup/lesion_detail.html",
        {
            "lesion": lesion,
            "patient": lesion.patient,
            "followup": history,
            "timeline": list(reversed(history.timeline)),
            "image_count": history.photo_count,
            "analysed_count": sum(entry.is_analysed for entry in history.timeline),
            "trend": compare.trend_data(history.timeline),
            "state": state,
            "reading": melanoma_reading(latest_prediction) if latest_prediction is not None else None,
            "flag_history": [f for f in all_flags if not f.is_open],
            "review_reasons": LesionFlag.REVIEW_REASONS,
            "markers": body_map.body_map_markers(lesions=siblings),
            "current": lesion,
            "next_followup": worklists.next_followup(
                lesion, last_seen=max((photo.visit.date for photo in photos), default=None)
            ),
        },
    )


@login_required
@require_GET
def lesion_compare(request: HttpRequest, uuid: UUID) -> HttpResponse:
    """Two visits of a lesion side by side (``?a=<visit uuid>&b=<visit uuid>``; default first and latest)."""
    lesion = get_for_user_or_404(Lesion, request.user, uuid, Lesion.objects.select_related("patient"))
    visits = timeline.lesion_timeline(selectors.lesion_images(lesion))
    try:
        pair = compare.compare_pair(visits, request.GET.get("a") or None, request.GET.get("b") or None)
    except KeyError as exc:
        raise Http404("No such visit of this lesion") from exc
    context: dict[str, object] = {"lesion": lesion, "patient": lesion.patient, "timeline": visits, "pair": pair}
    if pair is not None:
        a, b = pair
        index_b = visits.index(b)
        context.update(
            a=a,
            b=b,
            differences=compare.class_differences(a, b),
            earlier_b=visits[index_b - 1] if index_b > 0 else None,
            later_b=visits[index_b + 1] if index_b + 1 < len(visits) else None,
            **aligned_pair(a.image, b.image),
        )
    return render(request, "followup/lesion_compare.html", context)


def aligned_pair(first: LesionImage, second: LesionImage) -> dict[str, object]:
    """B aligned onto A (made and queued when the pair was never aligned), its change, both outlines in A's pixels."""
    from followup.changes import matrix_of, photo_change
    from followup.tasks import alignment_for_pair
    from ml.engine.change.registration import Registration

    if first.pk == second.pk:
        return {"alignment": None, "photo_change": None}
    alignment = alignment_for_pair(photo=second, reference=first)
    alignment.refresh_from_db()  # an eager worker has aligned it by now
    change = photo_change("A", second, first, alignment)
    outline_a, outline_b = outline_of(first), outline_of(second)
    b_points = ""
    if alignment.is_aligned and alignment.matrix and outline_b is not None and outline_b.polygon:
        moved = Registration(status="aligned", matrix=matrix_of(alignment.matrix)).apply(outline_b.polygon)
        b_points = " ".join(f"{x:.0f},{y:.0f}" for x, y in moved)
    return {
        "alignment": alignment,
        "photo_change": change,
        "outline_a_points": outline_a.svg_points if outline_a is not None and outline_a.polygon else "",
        "outline_b_points": b_points,
    }


@login_required
@require_GET
def visit_detail(request: HttpRequest, uuid: UUID) -> HttpResponse:
    visit = get_for_user_or_404(Visit, request.user, uuid, Visit.objects.select_related("patient", "clinician"))
    images = selectors.visit_images(visit).select_related("checklist")
    assessment = assessment_of(visit)
    return render(
        request,
        "followup/visit_detail.html",
        {
            "visit": visit,
            "patient": visit.patient,
            "images": images,
            "assessment": assessment,
            "addenda": list(visit.addenda.select_related("author")),
            "editable": not (assessment is not None and assessment.is_signed),
        },
    )


@login_required
@require_GET
def visit_report(request: HttpRequest, uuid: UUID) -> HttpResponse:
    """A printable report of one visit: patient, lesions seen, photos, heatmaps and predictions."""
    visit = get_for_user_or_404(
        Visit, request.user, uuid, Visit.objects.select_related("patient", "patient__clinic", "clinician")
    )
    return render(
        request,
        "followup/visit_report.html",
        {"visit": visit, "patient": visit.patient, "report": report.visit_report(visit), "printed_at": timezone.now()},
    )


@login_required
@require_GET
def clinic_agreement(request: HttpRequest) -> HttpResponse:
    """The model's top class against confirmed diagnoses of the user's clinics' lesions."""
    confirmation = request.GET.get("confirmation", Lesion.Confirmation.HISTOPATHOLOGY)
    confirmed = scoped(Lesion, request.user).exclude(diagnosis="").select_related("patient", "patient__clinic")
    if confirmation != "any":
        confirmation = (
            confirmation if confirmation in Lesion.Confirmation.values else Lesion.Confirmation.HISTOPATHOLOGY
        )
        confirmed = confirmed.filter(diagnosis_confirmation=confirmation)
    lesions = list(confirmed.order_by("patient__last_name", "label", "pk"))
    audit_list_view(lesions, page="Agreement page")  # it shows these lesions' patients and diagnoses
    images = selectors.images_with_predictions().filter(lesion__in=[lesion.pk for lesion in lesions])
    by_lesion: dict[int, list[LesionImage]] = {}
    for image in images:
        by_lesion.setdefault(image.lesion_id, []).append(image)
    summary = agreement.agreement_summary(
        (lesion, timeline.lesion_timeline(by_lesion.get(lesion.pk, []))) for lesion in lesions
    )
    return render(
        request,
        "followup/agreement.html",
        {
            "summary": summary,
            "confirmation": confirmation,
            "confirmations": Lesion.Confirmation.choices,
        },
    )


@login_required
@require_GET
def lesion_image_analysis(request: HttpRequest, uuid: UUID) -> HttpResponse:
    """The analysis panel of one photo, re-fetched by the page every 2 s while analysis is pending.

    A poll that finds the analysis still pending shows nothing of the record that the page did
    not already show (and audit): only the answer with the finished analysis is recorded as a
    read, once per page view, not one audit row per poll.
    """
    image = get_for_user_or_404(LesionImage, request.user, uuid, selectors.images_with_predictions(), audit=False)
    outline = outline_of(image)
    if all(prediction.is_finished for prediction in image.predictions.all()) and (
        outline is None or outline.is_finished
    ):
        audit_access(image)
    return render(request, "snippets/analysis.html", {"image": image})
