"""The checklists as an Observation and the visit's assessment as a ClinicalImpression, validated as FHIR R4."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from assessment import services
from assessment.models import DermoscopyChecklist, VisitAssessment
from interop.fhir import codes
from tests.interop.conftest import LATER, Records
from tests.interop.fhir.test_resources import component, fhir_get

Api = Callable[[str], APIClient]


@pytest.fixture
def signed(records: Records, clinician: Any) -> tuple[DermoscopyChecklist, VisitAssessment]:
    checklist = services.checklist_save(
        image=records.mole_later,
        user=clinician,
        values={"atypical_network": True, "blue_white_veil": True, "abcd_structures": 4},
        confirmed={"abcd_colours"},
    )
    services.assessment_save(
        visit=records.later,
        user=clinician,
        impression="Suspected melanoma in situ",
        differential="dysplastic naevus, melanoma",
        plan="excise",
    )
    assessment = services.visit_sign(visit=records.later, user=clinician)
    services.visit_addendum_add(visit=records.later, user=clinician, text="Excision booked for next week.")
    return checklist, assessment


def test_the_checklists_are_an_observation_with_every_item_and_score(
    api_as: Api, records: Records, signed: tuple[DermoscopyChecklist, VisitAssessment]
) -> None:
    checklist, _ = signed

    resource = fhir_get(api_as("clinician"), f"Observation/{checklist.uuid}")

    assert resource["status"] == "final"  # the visit is signed
    assert resource["code"]["coding"][0] == codes.DERMOSCOPY.coding(codes.DERMOSCOPY_CHECKLISTS)
    assert resource["valueQuantity"]["value"] == 4
    assert "suggests melanoma" in resource["interpretation"][0]["text"]
    tds = component(resource, codes.DERMOSCOPY.url, codes.TOTAL_DERMOSCOPY_SCORE)
    assert tds["valueQuantity"]["value"] == pytest.approx(checklist.total_dermoscopy_score)
    assert component(resource, codes.DERMOSCOPY.url, "blue_white_veil")["valueBoolean"] is True
    assert component(resource, codes.DERMOSCOPY.url, "regression")["valueBoolean"] is False
    assert component(resource, codes.DERMOSCOPY.url, "abcd_colours")["valueInteger"] == 2
    assert resource["derivedFrom"] == [{"reference": f"Media/{records.mole_later.uuid}"}]
    notes = " ".join(n["text"] for n in resource["note"])
    assert "not confirmed by the clinician: Asymmetry (axes, 0–2), Border (abrupt segments, 0–8)" in notes


def test_the_assessment_is_a_completed_clinical_impression_with_plan_signature_and_addendum(
    api_as: Api, records: Records, signed: tuple[DermoscopyChecklist, VisitAssessment]
) -> None:
    checklist, assessment = signed

    resource = fhir_get(api_as("clinician"), f"ClinicalImpression/{assessment.uuid}")

    assert resource["status"] == "completed"
    assert resource["summary"] == "Suspected melanoma in situ"
    assert resource["effectiveDateTime"] == LATER.isoformat()
    assert resource["assessor"]["display"]
    notes = [n["text"] for n in resource["note"]]
    assert "Differential diagnosis: dysplastic naevus, melanoma" in notes and "Plan: Excise" in notes
    assert any(text.startswith("Signed by ") for text in notes)
    assert "Addendum: Excision booked for next week." in notes
    assert {"reference": f"Observation/{checklist.uuid}", "display": "Dermoscopy checklists: Left shoulder mole"} in (
        resource["supportingInfo"]
    )


def test_an_unsigned_assessment_is_in_progress(api_as: Api, records: Records, clinician: Any) -> None:
    assessment = services.assessment_save(visit=records.later, user=clinician, impression="Naevus")

    resource = fhir_get(api_as("clinician"), f"ClinicalImpression/{assessment.uuid}")

    assert resource["status"] == "in-progress" and "assessor" not in resource


def test_everything_carries_them_and_outsiders_get_404(
    api_as: Api, records: Records, signed: tuple[DermoscopyChecklist, VisitAssessment]
) -> None:
    checklist, assessment = signed
    bundle = fhir_get(api_as("clinician"), f"Patient/{records.patient.uuid}/$everything", _count=100)

    ids = {(e["resource"]["resourceType"], e["resource"]["id"]) for e in bundle["entry"]}
    assert ("Observation", str(checklist.uuid)) in ids and ("ClinicalImpression", str(assessment.uuid)) in ids
    report = fhir_get(api_as("clinician"), f"DiagnosticReport/{records.later.uuid}")
    assert {"reference": f"Observation/{checklist.uuid}", "display": "Left shoulder mole: dermoscopy checklists"} in (
        report["result"]
    )
    outsider = api_as("outsider")
    assert outsider.get(f"/fhir/Observation/{checklist.uuid}").status_code == 404
    assert outsider.get(f"/fhir/ClinicalImpression/{assessment.uuid}").status_code == 404
