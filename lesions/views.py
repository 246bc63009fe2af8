from __future__ import annotations

from itertools import groupby
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import IntegrityError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from clinic.files import stream_file
from clinic.selectors import clinics_for_user, get_for_user_or_404
from lesions import selectors
from lesions.forms import LesionForm, PatientForm, PhotoFormSet, VisitForm
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
    lesions = patient.lesions.prefetch_related("images").order_by("label")
    visits = patient.visits.select_related("clinician").prefetch_related("images__lesion")
    return render(request, "lesions/patient_detail.html", {"patient": patient, "lesions": lesions, "visits": visits})


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


@login_required
@require_GET
def lesion_detail(request: HttpRequest, uuid: UUID) -> HttpResponse:
    lesion = get_for_user_or_404(Lesion, request.user, uuid, Lesion.objects.select_related("patient"))
    images = list(selectors.lesion_images(lesion))
    by_visit = [(visit, list(group)) for visit, group in groupby(images, key=lambda image: image.visit)]
    return render(
        request,
        "lesions/lesion_detail.html",
        {"lesion": lesion, "patient": lesion.patient, "by_visit": by_visit, "image_count": len(images)},
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
