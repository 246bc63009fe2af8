"""BodyStructure.locationQualifier carries the patient's side in SNOMED CT, beside the site's own qualifier."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rest_framework.test import APIClient

from lesions import services
from lesions.models import Patient
from tests.interop.fhir.test_resources import fhir_get

Api = Callable[[str], APIClient]


def _codes(resource: dict[str, Any]) -> list[str]:
    return [q["coding"][0]["code"] for q in resource.get("locationQualifier", [])]


def test_a_left_calf_seen_from_behind_is_qualified_left(api_as: Api, patient: Patient) -> None:
    lesion = services.lesion_create(patient=patient, label="Calf", view="posterior", map_x=0.36, map_y=0.8)

    resource = fhir_get(api_as("clinician"), f"BodyStructure/{lesion.uuid}")

    assert resource["location"]["coding"][0]["code"] == "61685007"  # lower limb
    assert resource["locationQualifier"] == [
        {"coding": [{"system": "http://snomed.info/sct", "code": "7771000", "display": "Left"}], "text": "left"}
    ]


def test_right_and_midline_and_a_site_qualifier_together(api_as: Api, patient: Patient) -> None:
    right_arm = services.lesion_create(patient=patient, label="Arm", view="anterior", map_x=0.16, map_y=0.37)
    spine = services.lesion_create(patient=patient, label="Spine", view="posterior", map_x=0.5, map_y=0.4)
    api = api_as("clinician")

    assert _codes(fhir_get(api, f"BodyStructure/{right_arm.uuid}")) == ["24028007"]
    assert _codes(fhir_get(api, f"BodyStructure/{spine.uuid}")) == ["255551008", "399488007"]  # posterior, midline


def test_a_lesion_without_a_recorded_side_has_no_laterality(api_as: Api, patient: Patient) -> None:
    lesion = services.lesion_create(patient=patient, label="Old", body_site="upper extremity")

    assert "locationQualifier" not in fhir_get(api_as("clinician"), f"BodyStructure/{lesion.uuid}")
