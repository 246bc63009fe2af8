from __future__ import annotations

from typing import Any, cast

from django import forms
from django.forms import formset_factory

from clinic.models import Clinic
from lesions import histopathology as histo
from lesions.imaging import ImageRejected
from lesions.models import CaptureProfile, Lesion, LesionImage, Patient, Visit
from lesions.selectors import SearchRejected, search_terms
from lesions.services import photo_sanitize
from lesions.validators import refuse_control_characters


class DateInput(forms.DateInput):
    # <input type="date"> only accepts ISO dates: the en-gb default (dd/mm/yyyy) would leave it
    # empty, and saving the form would then clear or refuse the date.
    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None, format: str | None = None) -> None:
        super().__init__(attrs, format=format or "%Y-%m-%d")


class PatientForm(forms.ModelForm[Patient]):
    """A patient's details; the record number rule is Patient.clean()'s, run by ModelForm validation."""

    class Meta:
        model = Patient
        fields = [
            "clinic",
            "medical_record_number",
            "first_name",
            "last_name",
            "date_of_birth",
            "sex",
            "fitzpatrick_skin_type",
            "notes",
        ]
        widgets = {"date_of_birth": DateInput(), "notes": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args: Any, clinics: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            del self.fields["clinic"]  # a record does not move between clinics
        else:
            clinic_field = cast("forms.ModelChoiceField[Clinic]", self.fields["clinic"])  # the model's foreign key
            clinic_field.queryset = clinics if clinics is not None else Clinic.objects.none()
            if clinics is not None and clinics.count() == 1:
                self.fields["clinic"].initial = clinics.first()
                self.fields["clinic"].widget = forms.HiddenInput()


RESULT_FIELDS = ["histopathology", "histopathology_text", "breslow_thickness_mm", "ulceration"]
RESULT_HELP = {
    "histopathology": "Each result counts as one of the analysis' 7 classes (or none) on the agreement page.",
    "histopathology_text": "For 'Other': the result as reported.",
    "breslow_thickness_mm": "Invasive melanoma only.",
    "ulceration": "Invasive melanoma only.",
}


class _ResultChoices:
    """The result's choices: the vocabulary less the 'not recorded' terms of old records (unless it has one)."""

    fields: dict[str, forms.Field]
    instance: Lesion

    def _limit_result_choices(self) -> None:
        field = cast("forms.TypedChoiceField", self.fields["histopathology"])
        current = self.instance.histopathology
        field.choices = [("", "---------")] + [
            (term.code, term.label) for term in histo.TERMS if not term.legacy or term.code == current
        ]
        self.fields["breslow_thickness_mm"].widget.attrs.update({"step": "0.01", "min": "0.01"})

    def _update_errors(self, errors: Any) -> None:
        # The model names the class field (diagnosis, as the API does); the form shows the result it comes from.
        if hasattr(errors, "error_dict") and "diagnosis" in errors.error_dict:
            errors.error_dict.setdefault("histopathology", []).extend(errors.error_dict.pop("diagnosis"))
        super()._update_errors(errors)  # type: ignore[misc]  # ModelForm's, after this mixin in the MRO


class LesionForm(_ResultChoices, forms.ModelForm[Lesion]):
    class Meta:
        model = Lesion
        fields = [
            "label",
            "view",
            "map_x",
            "map_y",
            "laterality",
            "body_site",
            "body_site_detail",
            "status",
            "followup_interval_months",
            *RESULT_FIELDS,
            "diagnosis_confirmation",
            "diagnosis_date",
        ]
        widgets = {
            "diagnosis_date": DateInput(),
            # Set by clicking or tapping the body figures (static/js/body_map_picker.js).
            "view": forms.HiddenInput(),
            "map_x": forms.HiddenInput(),
            "map_y": forms.HiddenInput(),
        }
        help_texts = RESULT_HELP
        # The location, diagnosis and result rules live in Lesion.clean(), which ModelForm validation runs.

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limit_result_choices()
        body_site = cast("forms.TypedChoiceField", self.fields["body_site"])  # a model field with choices
        body_site.choices = [("", "From the point on the body map"), *Lesion.BodySite.choices]
        cast("forms.TypedChoiceField", self.fields["laterality"]).choices = [
            ("", "From the point on the body map"),
            *Lesion.Laterality.choices,
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        assert cleaned is not None  # ModelForm.clean returns cleaned_data
        # A point moved on the map takes the site and side from the new point unless they were changed too
        # (the rule of services.lesion_update, applied here because the form fills its instance first).
        if self.instance.pk and {"view", "map_x", "map_y"} & set(self.changed_data):
            for name in ("body_site", "laterality"):
                if name not in self.changed_data:
                    cleaned[name] = ""
        return cleaned


class HistopathologyForm(_ResultChoices, forms.ModelForm[Lesion]):
    """The confirmed diagnosis of a lesion: result, how it was confirmed, when; and its new status."""

    class Meta:
        model = Lesion
        fields = [*RESULT_FIELDS, "diagnosis_confirmation", "diagnosis_date", "status"]
        labels = {"diagnosis_confirmation": "Confirmed by", "status": "Lesion status"}
        help_texts = RESULT_HELP
        widgets = {"diagnosis_date": DateInput()}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limit_result_choices()
        for name in ("histopathology", "diagnosis_confirmation", "diagnosis_date"):
            self.fields[name].required = True
        if not self.instance.diagnosis_confirmation:
            self.initial["diagnosis_confirmation"] = Lesion.Confirmation.HISTOPATHOLOGY


class VisitForm(forms.ModelForm[Visit]):
    """Date and notes of a new visit; the date rules are Visit.clean()'s (give it the patient's visit)."""

    class Meta:
        model = Visit
        fields = ["date", "notes"]
        widgets = {"date": DateInput(), "notes": forms.Textarea(attrs={"rows": 3})}


class PatientSearchForm(forms.Form):
    """The patient list's search box: a few words, each matched against name and record number."""

    q = forms.CharField(required=False, strip=True)

    def clean_q(self) -> str:
        text: str = self.cleaned_data["q"]
        try:
            search_terms(text)
        except SearchRejected as exc:
            raise forms.ValidationError(str(exc)) from exc
        return text


class PhotoForm(forms.Form):
    """One photo row of the new-visit form."""

    lesion = forms.ModelChoiceField(
        queryset=Lesion.objects.none(),
        required=False,
        empty_label="New lesion (describe below)",
        to_field_name="uuid",  # public ids only, never integer keys
    )
    new_lesion_label = forms.CharField(
        max_length=100,
        required=False,
        label="New lesion label",
        validators=[refuse_control_characters],  # Lesion.label's rule, checked before the service runs
    )
    new_lesion_body_site = forms.ChoiceField(
        choices=[("", "Body site…"), *Lesion.BodySite.choices], required=False, label="Body site"
    )
    new_lesion_body_site_detail = forms.CharField(
        max_length=200, required=False, label="Site detail", validators=[refuse_control_characters]
    )
    image_type = forms.ChoiceField(choices=LesionImage.ImageType.choices, initial=LesionImage.ImageType.DERMOSCOPIC)
    # On a phone, capture offers the camera (the rear one); accept lets the gallery's photos through too.
    photo = forms.FileField(
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": "image/*", "capture": "environment", "data-preview": ""}),
        help_text="JPEG, PNG or HEIC (iPhone) photo.",
    )
    capture_profile = forms.ModelChoiceField(
        queryset=CaptureProfile.objects.none(),
        required=False,
        empty_label="Device: not known",
        to_field_name="uuid",
        label="Capture device",
        help_text="Its field of view gives the photo's pixel size, so sizes are in mm.",
    )
    mm_per_pixel = forms.FloatField(
        required=False,
        min_value=0.0,
        max_value=LesionImage.MAX_MM_PER_PIXEL,
        label="Pixel size (mm per pixel)",
        help_text="If known for this photo (e.g. from a ruler in it); it wins over the device's.",
    )

    def __init__(self, *args: Any, patient: Patient | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if patient is not None:
            cast("forms.ModelChoiceField[Lesion]", self.fields["lesion"]).queryset = patient.lesions.all()
            profiles = CaptureProfile.objects.filter(clinic_id=patient.clinic_id)
            cast("forms.ModelChoiceField[CaptureProfile]", self.fields["capture_profile"]).queryset = profiles

    def clean_photo(self) -> Any:
        upload = self.cleaned_data.get("photo")
        if not upload:
            return None
        try:
            return photo_sanitize(upload, allow_heif=True)  # iPhones' camera photos, as the API takes them
        except ImageRejected as exc:
            raise forms.ValidationError(str(exc)) from exc

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        assert cleaned is not None  # Form.clean returns cleaned_data
        if not cleaned.get("photo"):
            return cleaned
        if not cleaned.get("lesion"):
            if not cleaned.get("new_lesion_label"):
                self.add_error("new_lesion_label", "Pick a lesion or name the new one.")
            if not cleaned.get("new_lesion_body_site"):
                self.add_error("new_lesion_body_site", "Choose the body site of the new lesion.")
        return cleaned


class BasePhotoFormSet(forms.BaseFormSet[PhotoForm]):
    def __init__(self, *args: Any, patient: Patient | None = None, **kwargs: Any) -> None:
        self.patient = patient
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        kwargs = super().get_form_kwargs(index)
        kwargs["patient"] = self.patient
        return kwargs

    def clean(self) -> None:
        if any(self.errors):
            return
        if not any(form.cleaned_data.get("photo") for form in self.forms):
            raise forms.ValidationError("Add at least one photo.")


# formset_factory makes a subclass of the formset it is given (its stub says only BaseFormSet).
PhotoFormSet = cast(
    "type[BasePhotoFormSet]",
    formset_factory(PhotoForm, formset=BasePhotoFormSet, extra=1, max_num=12, absolute_max=12),
)
