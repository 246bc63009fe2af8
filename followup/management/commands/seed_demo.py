"""Create a demo: two clinics, three clinicians, patients with lesions, visits and real photos.

Every photo is analysed by the installed models, and outlined and measured by the installed
segmentation model, like an upload; the summary names them.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import defaultdict
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from clinic.models import Clinic, Membership
from lesions.models import Lesion, LesionImage, Patient
from lesions.services import PhotoUpload, lesion_update, visit_create
from ml.models import ModelVersion
from ml.outlines import segmenter_manifest_path

SAMPLE_DIR = Path(__file__).resolve().parents[3] / "lesions" / "fixtures" / "ham10000_sample"
DEMO_PASSWORD = "dermatrack-demo"

CLINICS = {
    "Riverside Dermatology": [
        ("dr.ada", "Ada", "Okafor", Membership.Role.ADMIN),
        ("dr.ben", "Ben", "Lindqvist", Membership.Role.CLINICIAN),
    ],
    "Hillview Skin Clinic": [("dr.cara", "Cara", "Moreau", Membership.Role.CLINICIAN)],
}

PATIENTS = [
    # clinic, mrn, first, last, dob, sex, fitzpatrick
    ("Riverside Dermatology", "RD-1001", "Margaret", "Hale", dt.date(1952, 3, 14), "female", 2),
    ("Riverside Dermatology", "RD-1002", "Tomás", "Ibarra", dt.date(1968, 11, 2), "male", 3),
    ("Riverside Dermatology", "RD-1003", "Ingrid", "Svensson", dt.date(1979, 6, 21), "female", 1),
    ("Riverside Dermatology", "RD-1004", "Samuel", "Achebe", dt.date(1985, 1, 30), "male", 5),
    ("Riverside Dermatology", "RD-1005", "Li", "Wei", dt.date(1990, 9, 9), "female", 3),
    ("Hillview Skin Clinic", "HV-2001", "George", "Baxter", dt.date(1947, 12, 5), "male", 2),
    ("Hillview Skin Clinic", "HV-2002", "Amira", "Haddad", dt.date(1971, 4, 17), "female", 4),
]

# HAM10000 localization -> ISIC anatom_site_general
SITES = {
    "scalp": Lesion.BodySite.HEAD_NECK,
    "face": Lesion.BodySite.HEAD_NECK,
    "ear": Lesion.BodySite.HEAD_NECK,
    "neck": Lesion.BodySite.HEAD_NECK,
    "upper extremity": Lesion.BodySite.UPPER_EXTREMITY,
    "hand": Lesion.BodySite.UPPER_EXTREMITY,
    "lower extremity": Lesion.BodySite.LOWER_EXTREMITY,
    "foot": Lesion.BodySite.LOWER_EXTREMITY,
    "acral": Lesion.BodySite.PALMS_SOLES,
    "back": Lesion.BodySite.POSTERIOR_TORSO,
    "chest": Lesion.BodySite.ANTERIOR_TORSO,
    "abdomen": Lesion.BodySite.ANTERIOR_TORSO,
    "trunk": Lesion.BodySite.ANTERIOR_TORSO,
    "genital": Lesion.BodySite.ORAL_GENITAL,
}


class Command(BaseCommand):
    help = "Create demo clinics, clinicians and patients with real HAM10000 photos (idempotent)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--password", default=DEMO_PASSWORD, help="password of the demo clinicians")
        parser.add_argument(
            "--url", default="http://127.0.0.1:8000/", help="where the app is served (printed with the logins)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        password = options["password"]
        clinics = self._clinics_and_users(password)
        if Patient.objects.filter(clinic__in=clinics.values()).exists():
            self.stdout.write("Demo patients already exist; left as they are.")
        else:
            self._patients(clinics)
        self._print_summary(password, options["url"])

    def _clinics_and_users(self, password: str) -> dict[str, Clinic]:
        user_model = get_user_model()
        clinics: dict[str, Clinic] = {}
        with transaction.atomic():
            for clinic_name, members in CLINICS.items():
                clinic, _ = Clinic.objects.get_or_create(name=clinic_name)
                clinics[clinic_name] = clinic
                for username, first, last, role in members:
                    user, _ = user_model.objects.get_or_create(
                        username=username, defaults={"first_name": first, "last_name": last}
                    )
                    user.set_password(password)
                    user.save()
                    Membership.objects.update_or_create(user=user, clinic=clinic, defaults={"role": role})
        return clinics

    def _patients(self, clinics: dict[str, Clinic]) -> None:
        rows = list(csv.DictReader((SAMPLE_DIR / "HAM10000_metadata.csv").open()))
        by_lesion: dict[str, list[dict[str, str]]] = defaultdict(list)
        for row in rows:
            by_lesion[row["lesion_id"]].append(row)
        # Lesions with the most images first, so the first patients get follow-up series.
        lesion_groups = sorted(by_lesion.values(), key=len, reverse=True)
        patients = []
        for clinic_name, mrn, first, last, dob, sex, skin in PATIENTS:
            patient, _ = Patient.objects.get_or_create(
                clinic=clinics[clinic_name],
                medical_record_number=mrn,
                defaults={
                    "first_name": first,
                    "last_name": last,
                    "date_of_birth": dob,
                    "sex": sex,
                    "fitzpatrick_skin_type": skin,
                },
            )
            patients.append(patient)
        clinicians = {c: list(c.members.all()) for c in clinics.values()}
        today = dt.date.today()
        for index, group in enumerate(lesion_groups):
            patient = patients[index % len(patients)]
            clinician = clinicians[patient.clinic][index % len(clinicians[patient.clinic])]
            first_row = group[0]
            site = SITES.get(first_row["localization"], Lesion.BodySite.ANTERIOR_TORSO)
            lesion = None
            for visit_number, row in enumerate(group):
                # Follow-ups roughly every four months, the latest a few weeks ago.
                date = today - dt.timedelta(days=21 + 120 * (len(group) - 1 - visit_number) + index)
                with (SAMPLE_DIR / "images" / f"{row['image_id']}.jpg").open("rb") as handle:
                    upload = PhotoUpload(
                        photo=handle,
                        image_type=LesionImage.ImageType.DERMOSCOPIC,
                        lesion=lesion,
                        new_lesion_label=f"{first_row['localization'].title()} lesion {index + 1}",
                        new_lesion_body_site=site,
                        # HAM10000's localisation only when it says more than the body site
                        new_lesion_body_site_detail=""
                        if first_row["localization"] in site.value
                        else first_row["localization"],
                    )
                    visit = visit_create(
                        patient=patient,
                        clinician=clinician,
                        date=date,
                        notes="Dermoscopy follow-up." if visit_number else "First examination.",
                        photos=[upload],
                    )
                lesion = lesion or visit.images.get().lesion
            if first_row["dx_type"] == "histo" and lesion is not None:
                # Through the one write path, so follow-up retires the excised lesion's flags.
                lesion_update(
                    lesion=lesion,
                    diagnosis=first_row["dx"],
                    diagnosis_confirmation=Lesion.Confirmation.HISTOPATHOLOGY,
                    status=Lesion.Status.EXCISED,
                )
            elif lesion is not None:
                # Followed-up lesions on short-term monitoring (3 months), single photos on routine (12).
                interval = Lesion.FollowUpInterval.THREE if len(group) > 1 else Lesion.FollowUpInterval.TWELVE
                lesion_update(lesion=lesion, followup_interval_months=interval)

    def _print_summary(self, password: str, url: str) -> None:
        models = list(ModelVersion.objects.filter(is_active=True))
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS("DermaTrack demo is ready."))
        self.stdout.write(f"Log in at {url} with:")
        for clinic_name, members in CLINICS.items():
            for username, _, _, role in members:
                self.stdout.write(f"  {username:<9} / {password}   ({role}, {clinic_name})")
        if models:
            names = ", ".join(f"{m.name}{' (default)' if m.is_default else ''}" for m in models)
            self.stdout.write(f"Analysis models: {names}")
        else:
            self.stdout.write(
                self.style.WARNING(
                    f"No trained model in {settings.ML_WEIGHTS_DIR}: photos are stored but not analysed."
                )
            )
        segmenter = segmenter_manifest_path()
        if segmenter is not None:
            self.stdout.write(f"Lesion outlines and measurements: {segmenter.stem}")
        else:
            self.stdout.write(
                self.style.WARNING("No segmentation model installed: lesions are not outlined or measured.")
            )
