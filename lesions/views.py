from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import IntegrityError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from clinic.audit import audit_access_many
from clinic.files import stream_file
from clinic.selectors import clinics_for_user, get_for_user_or_404, scoped
from lesions import followup, selectors
from lesions.forms import HistopathologyForm, LesionForm, PatientForm, PhotoFormSet, VisitForm
from lesions.models import Lesion, LesionImage, Patient, Visit
from lesions.services import PhotoUpload, visit_create

PAGE_SIZE = 25


@login_required
def index(request: HttpRequest) -> HttpResponse:
    return redirect("patient-list")


@login_required
@require_GET
def patient_list(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "")
    paginator = Paginator(selectors.patient_list(request.user, search=search), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    audit_access_many(page.object_list)  # the list shows these patients' names and record numbers
    return render(request, "lesions/patient_list.html", {"page": page, "search": search})


@login_required
@require_http_methods(["GET", "POST"])
def patient_create(request: HttpRequest) -> HttpResponse:
    clinics = clinics_for_user(request.user)
    if not clinics.exists():
        raise Http404("You are not a member of any clinic")
    form = PatientForm(request.POST or None, clinics=clinics)
    if request.method == "POST" and form.is_valid():
        try:
            patient = form.save()
        except IntegrityError:
            form.add_error("medical_record_number", "Another patient of this clinic has this record number.")
        else:
            messages.success(request, f"Patient {patient.full_name} added.")
            return redirect(patient)
    return render(request, "lesions/patient_form.html", {"form": form})


@login_required
@require_GET
def patient_detail(request: HttpRequest, uuid: UUID) -> HttpResponse:
    patient = get_for_user_or_404(Patient, request.user, uuid)
    visits = patient.visits.select_related("clinician").prefetch_related("images__lesion")
    followups = followup.patient_followups(
        patient.lesions.all(),
        selectors.images_with_predictions().filter(lesion__patient=patient),
        patient_visit_dates=patient.visits.values_list("date", flat=True),
    )
    return render(
        request,
        "lesions/patient_detail.html",
        {
            "patient": patient,
            "lesions": [f.lesion for f in followups],
            "followups": followups,
            "markers": followup.body_map_markers(followups),
            "visits": visits,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def patient_edit(request: HttpRequest, uuid: UUID) -> HttpResponse:
    patient = get_for_user_or_404(Patient, request.user, uuid)
    form = PatientForm(request.POST or None, instance=patient)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Patient details saved.")
        return redirect(patient)
    return render(request, "lesions/patient_form.html", {"form": form, "patient": patient})


@login_required
@require_http_methods(["GET", "POST"])
def lesion_create(request: HttpRequest, uuid: UUID) -> HttpResponse:
    patient = get_for_user_or_404(Patient, request.user, uuid)
    form = LesionForm(request.POST or None, instance=Lesion(patient=patient))
    if request.method == "POST" and form.is_valid():
        lesion = form.save()
        messages.success(request, f"Lesion '{lesion.label}' added.")
        return redirect(lesion)
    return render(request, "lesions/lesion_form.html", {"form": form, "patient": patient})


def _lesion_followup(lesion: Lesion) -> followup.LesionFollowUp:
    return followup.lesion_followup(
        lesion,
        selectors.lesion_images(lesion),
        patient_visit_dates=lesion.patient.visits.values_list("date", flat=True),
    )


@login_required
@require_GET
def lesion_detail(request: HttpRequest, uuid: UUID) -> HttpResponse:
    """The lesion's history: flags, trend chart and every visit, newest first."""
    lesion = get_for_user_or_404(Lesion, request.user, uuid, Lesion.objects.select_related("patient"))
    history = _lesion_followup(lesion)
    return render(
        request,
        "lesions/lesion_detail.html",
        {
            "lesion": lesion,
            "patient": lesion.patient,
            "followup": history,
            "timeline": list(reversed(history.timeline)),
            "image_count": history.photo_count,
            "analysed_count": sum(entry.is_analysed for entry in history.timeline),
            "trend": followup.trend_data(history.timeline),
        },
    )


@login_required
@require_GET
def lesion_compare(request: HttpRequest, uuid: UUID) -> HttpResponse:
    """Two visits of a lesion side by side (``?a=<visit uuid>&b=<visit uuid>``; default first and latest)."""
    lesion = get_for_user_or_404(Lesion, request.user, uuid, Lesion.objects.select_related("patient"))
    timeline = followup.lesion_timeline(selectors.lesion_images(lesion))
    try:
        pair = followup.compare_pair(timeline, request.GET.get("a") or None, request.GET.get("b") or None)
    except KeyError as exc:
        raise Http404("No such visit of this lesion") from exc
    context: dict[str, object] = {"lesion": lesion, "patient": lesion.patient, "timeline": timeline, "pair": pair}
    if pair is not None:
        a, b = pair
        index_b = timeline.index(b)
        context.update(
            a=a,
            b=b,
            differences=followup.class_differences(a, b),
            earlier_b=timeline[index_b - 1] if index_b > 0 else None,
            later_b=timeline[index_b + 1] if index_b + 1 < len(timeline) else None,
        )
    return render(request, "lesions/lesion_compare.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def lesion_histopathology(request: HttpRequest, uuid: UUID) -> HttpResponse:
    """Record the confirmed diagnosis of a lesion (result, how it was confirmed, date)."""
    lesion = get_for_user_or_404(Lesion, request.user, uuid, Lesion.objects.select_related("patient"))
    form = HistopathologyForm(request.POST or None, instance=lesion)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, f"Diagnosis of '{lesion.label}' recorded: {lesion.get_diagnosis_display()}.")
        return redirect(lesion)
    return render(
        request, "lesions/lesion_histopathology.html", {"form": form, "lesion": lesion, "patient": lesion.patient}
    )


@login_required
@require_http_methods(["GET", "POST"])
def lesion_edit(request: HttpRequest, uuid: UUID) -> HttpResponse:
    lesion = get_for_user_or_404(Lesion, request.user, uuid, Lesion.objects.select_related("patient"))
    form = LesionForm(request.POST or None, instance=lesion)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Lesion saved.")
        return redirect(lesion)
    return render(request, "lesions/lesion_form.html", {"form": form, "patient": lesion.patient, "lesion": lesion})


@login_required
@require_http_methods(["GET", "POST"])
def visit_new(request: HttpRequest, uuid: UUID) -> HttpResponse:
    patient = get_for_user_or_404(Patient, request.user, uuid)
    initial_lesion = request.GET.get("lesion")
    if request.method == "POST":
        visit_form = VisitForm(request.POST)
        photo_forms = PhotoFormSet(request.POST, request.FILES, patient=patient, prefix="photos")
        if visit_form.is_valid() and photo_forms.is_valid():
            photos = [
                PhotoUpload(
                    photo=form.cleaned_data["photo"],
                    image_type=form.cleaned_data["image_type"],
                    lesion=form.cleaned_data.get("lesion"),
                    new_lesion_label=form.cleaned_data.get("new_lesion_label", ""),
                    new_lesion_body_site=form.cleaned_data.get("new_lesion_body_site", ""),
                    new_lesion_body_site_detail=form.cleaned_data.get("new_lesion_body_site_detail", ""),
                )
                for form in photo_forms
                if form.cleaned_data.get("photo")
            ]
            visit = visit_create(
                patient=patient,
                clinician=request.user,
                date=visit_form.cleaned_data["date"],
                notes=visit_form.cleaned_data["notes"],
                photos=photos,
            )
            messages.success(request, f"Visit saved with {len(photos)} photo(s); analysis has started.")
            return redirect(visit)
    else:
        visit_form = VisitForm(initial={"date": timezone.localdate()})
        initial = []
        if initial_lesion:
            lesion = patient.lesions.filter(uuid=initial_lesion).first() if _is_uuid(initial_lesion) else None
            if lesion:
                initial = [{"lesion": lesion}]
        photo_forms = PhotoFormSet(patient=patient, prefix="photos", initial=initial)
    return render(
        request,
        "lesions/visit_form.html",
        {"patient": patient, "visit_form": visit_form, "photo_forms": photo_forms},
    )


@login_required
@require_GET
def visit_detail(request: HttpRequest, uuid: UUID) -> HttpResponse:
    visit = get_for_user_or_404(Visit, request.user, uuid, Visit.objects.select_related("patient", "clinician"))
    images = selectors.visit_images(visit)
    return render(request, "lesions/visit_detail.html", {"visit": visit, "patient": visit.patient, "images": images})


@login_required
@require_GET
def visit_report(request: HttpRequest, uuid: UUID) -> HttpResponse:
    """A printable report of one visit: patient, lesions seen, photos, heatmaps and predictions."""
    visit = get_for_user_or_404(
        Visit, request.user, uuid, Visit.objects.select_related("patient", "patient__clinic", "clinician")
    )
    images = list(selectors.visit_images(visit))
    entries = [(image.lesion, followup.visit_analysis(visit, [image])) for image in images]
    return render(
        request,
        "lesions/visit_report.html",
        {"visit": visit, "patient": visit.patient, "entries": entries, "printed_at": timezone.now()},
    )


@login_required
@require_GET
def clinic_agreement(request: HttpRequest) -> HttpResponse:
    """The model's top class against confirmed diagnoses of the user's clinics' lesions."""
    confirmation = request.GET.get("confirmation", Lesion.Confirmation.HISTOPATHOLOGY)
    lesions = scoped(Lesion, request.user).exclude(diagnosis="").select_related("patient", "patient__clinic")
    if confirmation != "any":
        confirmation = (
            confirmation if confirmation in Lesion.Confirmation.values else Lesion.Confirmation.HISTOPATHOLOGY
        )
        lesions = lesions.filter(diagnosis_confirmation=confirmation)
    lesions = list(lesions.order_by("patient__last_name", "label", "pk"))
    audit_access_many(lesions)  # the page shows these lesions' patients and diagnoses
    images = selectors.images_with_predictions().filter(lesion__in=[lesion.pk for lesion in lesions])
    by_lesion: dict[int, list[LesionImage]] = {}
    for image in images:
        by_lesion.setdefault(image.lesion_id, []).append(image)
    summary = followup.agreement_summary(
        (lesion, followup.lesion_timeline(by_lesion.get(lesion.pk, []))) for lesion in lesions
    )
    return render(
        request,
        "lesions/agreement.html",
        {
            "summary": summary,
            "confirmation": confirmation,
            "confirmations": Lesion.Confirmation.choices,
        },
    )


@login_required
@require_GET
def lesion_image_analysis(request: HttpRequest, uuid: UUID) -> HttpResponse:
    """The analysis panel of one photo, re-fetched by the page while analysis is pending."""
    image = get_for_user_or_404(LesionImage, request.user, uuid, selectors.images_with_predictions())
    return render(request, "snippets/analysis.html", {"image": image})


@login_required
@require_GET
def lesion_image_file(request: HttpRequest, uuid: UUID) -> FileResponse:
    """Stream a stored photo to a member of its clinic (never a public media URL)."""
    image = get_for_user_or_404(LesionImage, request.user, uuid)
    return stream_file(image.image, image.content_type)


def _is_uuid(value: str) -> bool:
    try:
        UUID(value)
    except ValueError:
        return False
    return True
