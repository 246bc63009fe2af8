"""Pages that write a photo's checklists and a visit's assessment, signature and addenda.

Each form page re-renders with its errors (HTTP 400) when the input is refused, and a signed
visit's forms answer 409 with the reason.
"""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.forms import BaseForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from assessment import services
from assessment.forms import AddendumForm, AssessmentForm, ChecklistForm
from assessment.models import VisitAddendum, VisitAssessment, VisitSigned, assessment_of, visit_is_signed
from clinic.selectors import get_for_user_or_404
from lesions.models import LesionImage, Visit
from lesions.views import submit_once
from ml import selectors


def _signed_page(request: HttpRequest, visit: Visit, error: VisitSigned) -> HttpResponse:
    return render(
        request, "assessment/signed.html", {"visit": visit, "patient": visit.patient, "error": error}, status=409
    )


def _refused(form: BaseForm, error: ValidationError) -> None:
    """A service's refusal shown on the form: on the field it names, else above the form."""
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            target = field if field in form.fields else None
            for problem in errors:
                form.add_error(target, problem)
    else:
        for message in error.messages:
            form.add_error(None, message)


@login_required
@require_http_methods(["GET", "POST"])
def checklist_edit(request: HttpRequest, uuid: UUID) -> HttpResponse:
    image = get_for_user_or_404(
        LesionImage, request.user, uuid, selectors.images_with_predictions().select_related("visit__patient")
    )
    visit = image.visit
    if visit_is_signed(visit):
        return _signed_page(request, visit, VisitSigned(visit))
    checklist = services.checklist_for_form(image)
    form = ChecklistForm(request.POST or None, instance=checklist, suggestions=services.checklist_suggestions(image))
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                saved = services.checklist_save(
                    image=image, user=request.user, values=form.checklist_values(), confirmed=form.confirmed()
                )
            except VisitSigned as exc:
                return _signed_page(request, visit, exc)
            except ValidationError as exc:
                _refused(form, exc)
            else:
                tds = "–" if saved.total_dermoscopy_score is None else f"{saved.total_dermoscopy_score:.2f}"
                messages.success(
                    request, f"Checklists of {image.lesion.label} saved: 7-point {saved.seven_point_score}, TDS {tds}."
                )
                return redirect(f"{visit.get_absolute_url()}#photo-{image.uuid}")
        status = 400
    return render(
        request,
        "assessment/checklist_form.html",
        {"form": form, "image": image, "visit": visit, "patient": visit.patient, "lesion": image.lesion},
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def assessment_edit(request: HttpRequest, uuid: UUID) -> HttpResponse:
    visit = get_for_user_or_404(Visit, request.user, uuid, Visit.objects.select_related("patient"))
    assessment = assessment_of(visit) or VisitAssessment(visit=visit)
    if assessment.is_signed:
        return _signed_page(request, visit, VisitSigned(visit))
    form = AssessmentForm(request.POST or None, instance=assessment)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.assessment_save(
                    visit=visit,
                    user=request.user,
                    **{name: form.cleaned_data[name] for name in services.ASSESSMENT_FIELDS},
                )
            except VisitSigned as exc:
                return _signed_page(request, visit, exc)
            except ValidationError as exc:
                _refused(form, exc)
            else:
                messages.success(request, "Assessment saved (not signed yet).")
                return redirect(f"{visit.get_absolute_url()}#assessment")
        status = 400
    return render(
        request,
        "assessment/assessment_form.html",
        {"form": form, "visit": visit, "patient": visit.patient},
        status=status,
    )


@login_required
@require_POST
def visit_sign(request: HttpRequest, uuid: UUID) -> HttpResponse:
    visit = get_for_user_or_404(Visit, request.user, uuid, Visit.objects.select_related("patient"))
    try:
        assessment = services.visit_sign(visit=visit, user=request.user)
    except VisitSigned as exc:
        return _signed_page(request, visit, exc)
    except ValidationError as exc:
        form = AssessmentForm(instance=assessment_of(visit) or VisitAssessment(visit=visit))
        return render(
            request,
            "assessment/assessment_form.html",
            {"form": form, "visit": visit, "patient": visit.patient, "sign_errors": exc.messages},
            status=400,
        )
    messages.success(request, f"Visit signed by {assessment.signed_by_name}: it is now read-only.")
    return redirect(f"{visit.get_absolute_url()}#assessment")


@login_required
@require_POST
def addendum_add(request: HttpRequest, uuid: UUID) -> HttpResponse:
    visit = get_for_user_or_404(Visit, request.user, uuid, Visit.objects.select_related("patient"))
    form = AddendumForm(request.POST)

    def add() -> VisitAddendum | None:
        if not form.is_valid():
            return None
        try:
            return services.visit_addendum_add(visit=visit, user=request.user, text=form.cleaned_data["text"])
        except ValidationError as exc:
            _refused(form, exc)
            return None

    # Once per rendered form (its ``form_key``): a double click or a resend adds one addendum, not two.
    done = submit_once(request, form, add, lambda _: "Addendum added.", lambda _: f"{visit.get_absolute_url()}#addenda")
    if done is not None:
        return done
    return render(
        request, "assessment/addendum_form.html", {"form": form, "visit": visit, "patient": visit.patient}, status=400
    )
