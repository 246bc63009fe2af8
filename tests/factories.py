"""factory_boy factories for every model, plus small helpers that make real image bytes.

Photos are real, decodable JPEG/PNG files: ``LesionImageFactory`` stores them through the
``lesion_image_create`` service, so its rows look exactly like uploaded ones (UUID file name,
size, hash) and no analysis is queued unless the test registered a ``ModelVersion``.
"""

from __future__ import annotations

import datetime as dt
from io import BytesIO
from typing import Any

import factory
from django.contrib.auth import get_user_model
from PIL import ExifTags, Image, ImageDraw

from clinic.models import Clinic, Membership
from lesions.forms import LesionForm, PatientForm
from lesions.models import Lesion, LesionImage, Patient, Visit
from lesions.services import lesion_image_create
from ml.models import LesionOutline, ModelVersion, Prediction

PASSWORD = "correct-horse-battery"


def _picture(width: int, height: int) -> Image.Image:
    """A skin-coloured picture with a dark 'lesion' and a red marker in the top-left corner."""
    image = Image.new("RGB", (width, height), (224, 180, 150))
    draw = ImageDraw.Draw(image)
    draw.ellipse((width // 4, height // 4, 3 * width // 4, 3 * height // 4), fill=(90, 50, 35))
    draw.rectangle((0, 0, width // 8, height // 8), fill=(255, 0, 0))
    return image


def make_exif(*, orientation: int = 1, gps: bool = True) -> Image.Exif:
    """Camera-style EXIF: orientation, maker, owner and (by default) a GPS position."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "PhoneMaker"
    exif[ExifTags.Base.Artist] = "Margaret Hale"
    if gps:
        position = exif.get_ifd(ExifTags.IFD.GPSInfo)
        position[ExifTags.GPS.GPSLatitudeRef] = "N"
        position[ExifTags.GPS.GPSLatitude] = (51.0, 30.0, 12.0)
    return exif


def make_jpeg(width: int = 200, height: int = 150, *, exif: Image.Exif | None = None, quality: int = 90) -> bytes:
    """The bytes of a real JPEG photo (optionally carrying EXIF)."""
    out = BytesIO()
    kwargs: dict[str, Any] = {"quality": quality}
    if exif is not None:
        kwargs["exif"] = exif
    _picture(width, height).save(out, "JPEG", **kwargs)
    return out.getvalue()


def make_png(width: int = 200, height: int = 150) -> bytes:
    out = BytesIO()
    _picture(width, height).save(out, "PNG")
    return out.getvalue()


def make_gif(width: int = 200, height: int = 150) -> bytes:
    out = BytesIO()
    _picture(width, height).convert("P").save(out, "GIF")
    return out.getvalue()


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Sequence(lambda n: f"Firstname{n}")
    last_name = factory.Sequence(lambda n: f"Lastname{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.django.Password(PASSWORD)


class ClinicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Clinic

    name = factory.Sequence(lambda n: f"Clinic {n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    clinic = factory.SubFactory(ClinicFactory)
    role = Membership.Role.CLINICIAN


def member(clinic: Clinic, username: str, role: str = Membership.Role.CLINICIAN) -> Any:
    """A user who is a member of ``clinic`` (a clinician unless ``role`` says otherwise)."""
    return MembershipFactory(clinic=clinic, role=role, user__username=username).user


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    clinic = factory.SubFactory(ClinicFactory)
    medical_record_number = factory.Sequence(lambda n: f"MRN-{n:05d}")
    # Deterministic names: searches in tests must not match a random name by accident.
    first_name = factory.Iterator(["Alice", "Bruno", "Chen", "Dara", "Emeka", "Fatima"])
    last_name = factory.Sequence(lambda n: f"Testperson{n}")
    date_of_birth = dt.date(1970, 5, 17)
    sex = Patient.Sex.FEMALE


class LesionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lesion

    patient = factory.SubFactory(PatientFactory)
    label = factory.Sequence(lambda n: f"Lesion {n}")
    body_site = Lesion.BodySite.UPPER_EXTREMITY


class VisitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Visit

    patient = factory.SubFactory(PatientFactory)
    date = factory.LazyFunction(dt.date.today)
    clinician = None


class LesionImageFactory(factory.django.DjangoModelFactory):
    """A stored photo, created through ``lesion_image_create`` (pass ``photo=`` bytes to choose it)."""

    class Meta:
        model = LesionImage

    lesion = factory.SubFactory(LesionFactory)
    visit = factory.SubFactory(VisitFactory, patient=factory.SelfAttribute("..lesion.patient"))
    image_type = LesionImage.ImageType.DERMOSCOPIC
    uploaded_by = None
    photo = factory.LazyFunction(make_jpeg)

    @classmethod
    def _create(cls, model_class: type[LesionImage], *args: Any, **kwargs: Any) -> LesionImage:
        photo = kwargs.pop("photo")
        if isinstance(photo, bytes):
            photo = BytesIO(photo)
        return lesion_image_create(photo=photo, **kwargs)


class ModelVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelVersion

    name = factory.Sequence(lambda n: f"test-model-{n}")
    architecture = "efficientnet_b0"
    manifest_file = factory.LazyAttribute(lambda v: f"{v.name}.json")
    weights_sha256 = "0" * 64


class PredictionFactory(factory.django.DjangoModelFactory):
    """A finished prediction with heatmap and CAM files; ``pending=True`` for one not yet run."""

    class Meta:
        model = Prediction

    class Params:
        pending = factory.Trait(
            status=Prediction.Status.PENDING,
            probabilities=factory.LazyFunction(dict),
            top_class="",
            confidence=None,
            heatmap="",
            cam="",
        )

    image = factory.SubFactory(LesionImageFactory)
    model_version = factory.SubFactory(ModelVersionFactory)
    status = Prediction.Status.DONE
    probabilities = factory.LazyFunction(
        lambda: {"akiec": 0.01, "bcc": 0.02, "bkl": 0.05, "df": 0.01, "mel": 0.11, "nv": 0.78, "vasc": 0.02}
    )
    top_class = "nv"
    confidence = 0.78
    heatmap = factory.django.FileField(filename="heatmap.png", data=make_png())
    cam = factory.django.FileField(filename="cam.png", data=make_png(64, 48))


def make_mask_png(width: int = 200, height: int = 150) -> bytes:
    """A grayscale lesion mask (255 inside) of the factories' picture: its central ellipse."""
    mask = Image.new("L", (width, height), 0)
    ImageDraw.Draw(mask).ellipse((width // 4, height // 4, 3 * width // 4, 3 * height // 4), fill=255)
    out = BytesIO()
    mask.save(out, "PNG")
    return out.getvalue()


class LesionOutlineFactory(factory.django.DjangoModelFactory):
    """A finished outline of the factories' picture (its central ellipse), measured relative to the photo."""

    class Meta:
        model = LesionOutline

    class Params:
        pending = factory.Trait(
            status=LesionOutline.Status.PENDING,
            mask="",
            polygon=factory.LazyFunction(list),
            confidence=None,
            measurements=factory.LazyFunction(dict),
            segmenter_name="",
            segmenter_sha256="",
        )

    image = factory.SubFactory(LesionImageFactory)
    status = LesionOutline.Status.DONE
    segmenter_name = "test-segmenter"
    segmenter_sha256 = "1" * 64
    confidence = 0.93
    polygon = factory.LazyAttribute(
        lambda o: [
            [o.image.width // 4, o.image.height // 2],
            [o.image.width // 2, o.image.height // 4],
            [3 * o.image.width // 4, o.image.height // 2],
            [o.image.width // 2, 3 * o.image.height // 4],
        ]
    )
    measurements = factory.LazyAttribute(
        lambda o: {
            "area_px": 0.196 * o.image.width * o.image.height,
            "area_fraction": 0.196,
            "diameter_px": o.image.width / 2,
            "diameter_fraction": 0.5,
            "width_px": o.image.height / 2,
            "perimeter_px": 350.0,
            "compactness": 1.02,
            "asymmetry_major_axis": 0.01,
            "asymmetry_minor_axis": 0.01,
            "asymmetry": 0.01,
            "colours": ["dark_brown"],
            "colour_shares": {"dark_brown": 0.9},
        }
    )
    mask = factory.django.FileField(filename="mask.png", data=make_mask_png())


def visit_form_data(*photos: dict[str, Any], date: str = "2024-05-01", notes: str = "") -> dict[str, Any]:
    """POST data of the new-visit page with one photo row per dict (keys without the prefix)."""
    data: dict[str, Any] = {
        "date": date,
        "notes": notes,
        "photos-TOTAL_FORMS": str(len(photos)),
        "photos-INITIAL_FORMS": "0",
        "photos-MIN_NUM_FORMS": "0",
        "photos-MAX_NUM_FORMS": "12",
    }
    for index, row in enumerate(photos):
        row = {"image_type": "dermoscopic", "lesion": "", **row}
        for key, value in row.items():
            data[f"photos-{index}-{key}"] = value
    return data


# A new patient and a new lesion as typed into their forms.
NEW_PATIENT = {
    "medical_record_number": "RD-5001",
    "first_name": "Ingrid",
    "last_name": "Svensson",
    "date_of_birth": "1979-06-21",
    "sex": "female",
    "fitzpatrick_skin_type": "1",
    "notes": "",
}
NEW_LESION = {
    "label": "Right calf naevus",
    "body_site": "lower extremity",
    "body_site_detail": "posterior calf",
    "status": "monitoring",
    "followup_interval_months": "",
    "histopathology": "",
    "histopathology_text": "",
    "breslow_thickness_mm": "",
    "ulceration": "unknown",
    "diagnosis_confirmation": "",
    "diagnosis_date": "",
}


def _as_shown(record: Patient | Lesion, fields: list[str]) -> dict[str, str]:
    """A record's values as its edit form shows them (empty for none)."""
    return {name: "" if (value := getattr(record, name)) is None else str(value) for name in fields}


def patient_form_data(patient: Patient | None = None, **changes: Any) -> dict[str, Any]:
    """POST data of the patient form: ``patient`` as its edit page shows it (without one, ``NEW_PATIENT``),
    with ``changes`` (the new-patient page also takes ``clinic``)."""
    fields = [name for name in PatientForm.Meta.fields if name != "clinic"]
    return {**(NEW_PATIENT if patient is None else _as_shown(patient, fields)), **changes}


def lesion_form_data(lesion: Lesion | None = None, **changes: Any) -> dict[str, Any]:
    """POST data of the lesion form: ``lesion`` as its edit page shows it (without one, ``NEW_LESION``),
    with ``changes``."""
    return {**(NEW_LESION if lesion is None else _as_shown(lesion, LesionForm.Meta.fields)), **changes}


PATIENT_TEXT = "Patient: Jane Doe MRN 12345"


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload


def make_jpeg_with_text(width: int = 200, height: int = 150) -> bytes:
    """A JPEG carrying patient text where cameras and editors put it: a COM comment, EXIF (APP1),
    XMP (APP1), a Photoshop block (APP13) and a private APP15 block."""
    out = BytesIO()
    extra = _segment(0xED, b"Photoshop 3.0\x00" + PATIENT_TEXT.encode()) + _segment(0xEF, PATIENT_TEXT.encode())
    _picture(width, height).save(
        out,
        "JPEG",
        quality=90,
        comment=PATIENT_TEXT,
        exif=make_exif(),
        xmp=f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><dc>{PATIENT_TEXT}</dc></x:xmpmeta>'.encode(),
        extra=extra,
    )
    return out.getvalue()


def make_png_with_text(width: int = 200, height: int = 150) -> bytes:
    """A PNG carrying patient text in tEXt, zTXt and iTXt chunks and in EXIF (eXIf)."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Comment", PATIENT_TEXT)
    info.add_text("Description", PATIENT_TEXT, zip=True)
    info.add_itxt("Author", PATIENT_TEXT, lang="en")
    out = BytesIO()
    _picture(width, height).save(out, "PNG", pnginfo=info, exif=make_exif())
    return out.getvalue()
