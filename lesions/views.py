"""Pages of the records: patient list and forms, lesion forms, the new-visit form, photo files.

Pages that show records with their analyses (patient, lesion history, visit) are ``followup``'s.
Forms check what was typed; every write goes through ``lesions.services``, the same functions
the API calls, so the model's rules decide in both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from uuid import UUID

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import resolve
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from clinic.audit import audit_list_view
from clinic.files import stream_file
from clinic.selectors import clinics_for_user, get_for_user_or_404
from lesions import body_sites, selectors, services
from lesions.forms import HistopathologyForm, LesionForm, PatientForm, PatientSearchForm, PhotoFormSet, VisitForm
from lesions.idempotency import (
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    form_replayed,
    form_submit_once,
)
from lesions.models import Lesion, LesionImage, Patient, Visit

PAGE_SIZE = 25
T = TypeVar("T")


def _write(form: forms.BaseForm, service: Callable[..., T], **arguments: Any) -> T | None:
    """Call a write service with the form's cleaned data; a refusal shows on the form (None)."""
    try:
        return service(**arguments, **form.cleaned_data)
    except ValidationError as exc:
        if hasattr(exc, "error_dict") and not set(exc.error_dict) <= {*form.fields, NON_FIELD_ERRORS}:
            exc = ValidationError(exc.messages)  # e.g. a new lesion's rule on the visit form: shown above it
        form.add_error(None, exc)
        return None


ALREADY_SENT = "This form had already been sent: it was saved once, not twice."
FORM_REUSED = "This form was already saved. Open the page again to enter another."


def submit_once(
    request: HttpRequest,
    form: forms.BaseForm,
    write: Callable[[], Any],
    message: Callable[[Any], str],
    location: Callable[[Any], str] | None = None,
) -> HttpResponse | None:
    """Carry out a form that creates records once per rendered form (``form_key``), then redirect.

    ``write`` returns the new record (None: refused, its errors are on the form); the redirect goes
    to ``location(record)``, the record's own page by default. A second send of the same form (a
    double click, a resend) redirects where the first did without writing again.
    """

    def perform() -> str | None:
        record = write()
        if record is None:
            return None
        messages.success(request, message(record))
        where: str = location(record) if location is not None else record.get_absolute_url()
        return where

    try:
        result = form_submit_once(request=request, perform=perform)
    except (IdempotencyKeyReused, IdempotencyKeyInvalid):
        form.add_error(None, FORM_REUSED)
        return None
    if result is None:
        return None
    if result.replayed:
        messages.info(request, ALREADY_SENT)
    return redirect(result.location)


def _already_sent(request: HttpRequest) -> HttpResponse | None:
    """The first send's redirect when this form was already saved (None: carry it out, or show its refusal)."""
    if request.method != "POST":
        return None
    try:
        result = form_replayed(request=request)
    except (IdempotencyKeyReused, IdempotencyKeyInvalid):
        return None  # validation and submit_once refuse it on the form
    if result is None:
        return None
    messages.info(request, ALREADY_SENT)
    return redirect(result.location)


@login_required
def index(request: HttpRequest) -> HttpResponse:
    return redirect("patient-list")


@login_required
@require_GET
def patient_list(request: HttpRequest) -> HttpResponse:
    form = PatientSearchForm(request.GET)
    if not form.is_valid():  # a search too long to run: say why, list nobody
        context = {"page": None, "search": request.GET.get("q", ""), "search_errors": form.errors["q"]}
        return render(request, "lesions/patient_list.html", context, status=400)
    search = form.cleaned_data["q"]
    paginator = Paginator(selectors.patient_list(request.user, search=search), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    audit_list_view(page.object_list, page="Patient list")  # it shows these patients' names and record numbers
    return render(request, "lesions/patient_list.html", {"page": page, "search": search})


@login_required
@require_http_methods(["GET", "POST"])
def patient_create(request: HttpRequest) -> HttpResponse:
    clinics = clinics_for_user(request.user)
    if not clinics.exists():
        raise Http404("You are not a member of any clinic")
    if replay := _already_sent(request):
        return replay
    form = PatientForm(request.POST or None, clinics=clinics)
    if request.method == "POST" and form.is_valid():
        done = submit_once(
            request,
            form,
            lambda: _write(form, services.patient_create),
            lambda patient: f"Patient {patient.full_name} added.",
        )
        if done is not None:
            return done
    return render(request, "lesions/patient_form.html", {"form": form})


@login_required
@require_http_methods(["GET", "POST"])
def patient_edit(request: HttpRequest, uuid: UUID) -> HttpResponse:
    patient = get_for_user_or_404(Patient, request.user, uuid)
    form = PatientForm(request.POST or None, instance=patient)
    if (
        request.method == "POST"
        and form.is_valid()
        and _write(form, services.patient_update, patient=patient) is not None
    ):
        messages.success(request, "Patient details saved.")
        return redirect(patient)
    return render(request, "lesions/patient_form.html", {"form": form, "patient": patient})


@login_required
@require_http_methods(["GET", "POST"])
def lesion_create(request: HttpRequest, uuid: UUID) -> HttpResponse:
    patient = get_for_user_or_404(Patient, request.user, uuid)
    if replay := _already_sent(request):
        return replay
    form = LesionForm(request.POST or None, instance=Lesion(patient=patient))
    if request.method == "POST" and form.is_valid():
        done = submit_once(
            request,
            form,
            lambda: _write(form, services.lesion_create, patient=patient),
            lambda lesion: f"Lesion '{lesion.label}' added.",
        )
        if done is not None:
            return done
    return render(
        request,
        "lesions/lesion_form.html",
        {"form": form, "patient": patient, "figure": body_sites.svg_layout()},
    )


@login_required
@require_http_methods(["GET", "POST"])
def lesion_histopathology(request: HttpRequest, uuid: UUID) -> HttpResponse:
    """Record the confirmed diagnosis of a lesion (result, how it was confirmed, date)."""
    lesion = get_for_user_or_404(Lesion, request.user, uuid, Lesion.objects.select_related("patient"))
    form = HistopathologyForm(request.POST or None, instance=lesion)
    if request.method == "POST" and form.is_valid() and _write(form, services.lesion_update, lesion=lesion) is not None:
        messages.success(request, f"Result of '{lesion.label}' recorded: {lesion.result_display}.")
        return redirect(lesion)
    return render(
        request, "lesions/lesion_histopathology.html", {"form": form, "lesion": lesion, "patient": lesion.patient}
    )


@login_required
@require_http_methods(["GET", "POST"])
def lesion_edit(request: HttpRequest, uuid: UUID) -> HttpResponse:
    lesion = get_for_user_or_404(Lesion, request.user, uuid, Lesion.objects.select_related("patient"))
    form = LesionForm(request.POST or None, instance=lesion)
    if request.method == "POST" and form.is_valid() and _write(form, services.lesion_update, lesion=lesion) is not None:
        messages.success(request, "Lesion saved.")
        return redirect(lesion)
    context = {"form": form, "patient": lesion.patient, "lesion": lesion, "figure": body_sites.svg_layout()}
    return render(request, "lesions/lesion_form.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def visit_new(request: HttpRequest, uuid: UUID) -> HttpResponse:
    patient = get_for_user_or_404(Patient, request.user, uuid)
    initial_lesion = request.GET.get("lesion")
    if replay := _already_sent(request):
        return replay
    if request.method == "POST":
        visit_form = VisitForm(request.POST, instance=Visit(patient=patient))
        photo_forms = PhotoFormSet(request.POST, request.FILES, patient=patient, prefix="photos")
        if visit_form.is_valid() and photo_forms.is_valid():
            photos = [
                services.PhotoUpload(
                    photo=form.cleaned_data["photo"],
                    image_type=form.cleaned_data["image_type"],
                    lesion=form.cleaned_data.get("lesion"),
                    new_lesion_label=form.cleaned_data.get("new_lesion_label", ""),
                    new_lesion_body_site=form.cleaned_data.get("new_lesion_body_site", ""),
                    new_lesion_body_site_detail=form.cleaned_data.get("new_lesion_body_site_detail", ""),
                    mm_per_pixel=form.cleaned_data.get("mm_per_pixel"),
                    capture_profile=form.cleaned_data.get("capture_profile"),
                )
                for form in photo_forms
                if form.cleaned_data.get("photo")
            ]
            done = submit_once(
                request,
                visit_form,
                lambda: _write(
                    visit_form, services.visit_create, patient=patient, clinician=request.user, photos=photos
                ),
                lambda visit: f"Visit of {visit.date:%Y-%m-%d} saved with {len(photos)} photo(s).",
            )
            if done is not None:
                _message_analysis(request, patient, done["Location"])
                return done
    else:
        visit_form = VisitForm(initial={"date": timezone.localdate()}, instance=Visit(patient=patient))
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


def _message_analysis(request: HttpRequest, patient: Patient, location: str) -> None:
    """Say what really happened to the new photos' analyses: finished (tasks run in the request) or queued."""
    visit_uuid = resolve(location).kwargs.get("uuid")
    visit = patient.visits.filter(uuid=visit_uuid).first() if visit_uuid else None
    if visit is None:
        return
    # The analyses are the ml app's rows (above this app): read by relation name, not imported.
    statuses = list(LesionImage.objects.filter(visit=visit).values_list("predictions__status", flat=True))
    statuses = [status for status in statuses if status]
    if not statuses:
        messages.info(request, "No analysis model is active: the photos are stored without analysis.")
        return
    done, failed = statuses.count("done"), statuses.count("failed")
    waiting = len(statuses) - done - failed
    if waiting:
        messages.info(request, f"Analysis queued for {waiting} photo(s); this page updates when it is finished.")
    elif failed:
        messages.warning(request, f"Analysis finished: {done} done, {failed} failed (see the photo for why).")
    else:
        messages.info(request, f"Analysis finished for {done} photo(s).")


@login_required
@require_GET
def lesion_image_file(request: HttpRequest, uuid: UUID) -> HttpResponseBase:
    """Stream a stored photo to a member of its clinic (never a public media URL)."""
    image = get_for_user_or_404(LesionImage, request.user, uuid)
    return stream_file(image.image, image.content_type)


def _is_uuid(value: str) -> bool:
    try:
        UUID(value)
    except ValueError:
        return False
    return True
