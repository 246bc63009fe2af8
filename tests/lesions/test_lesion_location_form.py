"""The lesion form's body map: a point placed on the front or back figure, the site and side from it."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from lesions import services
from lesions.models import Lesion, Patient
from tests.factories import lesion_form_data

LEFT_CALF_FROM_BEHIND = {"view": "posterior", "map_x": "0.36", "map_y": "0.8"}


def test_the_form_draws_both_figures_and_loads_the_picker_script(clinician_client: Client, patient: Patient) -> None:
    html = clinician_client.get(reverse("lesion-create", args=[patient.uuid])).content.decode()

    assert 'class="pick-area" data-view="anterior"' in html
    assert 'class="pick-area" data-view="posterior"' in html
    assert 'data-anterior-x="95" data-posterior-x="285"' in html
    assert 'src="/static/js/body_map_picker.js"' in html
    assert '<input type="hidden" name="map_x"' in html
    assert "<script>" not in html  # nothing inline: the CSP allows scripts from this site only


def test_a_point_placed_on_the_figure_gives_site_and_side(clinician_client: Client, patient: Patient) -> None:
    data = lesion_form_data(body_site="", **LEFT_CALF_FROM_BEHIND)

    response = clinician_client.post(reverse("lesion-create", args=[patient.uuid]), data)

    assert response.status_code == 302
    lesion = Lesion.objects.get()
    assert (lesion.view, lesion.laterality, lesion.body_site) == ("posterior", "left", "lower extremity")
    assert (lesion.map_x, lesion.map_y) == (0.36, 0.8)


def test_a_side_that_contradicts_the_point_is_a_form_error(clinician_client: Client, patient: Patient) -> None:
    data = lesion_form_data(body_site="", laterality="right", **LEFT_CALF_FROM_BEHIND)

    response = clinician_client.post(reverse("lesion-create", args=[patient.uuid]), data)

    assert response.status_code == 200
    assert "patient's left side of the posterior figure" in response.context["form"].errors["laterality"][0]
    assert not Lesion.objects.exists()


def test_neither_point_nor_site_is_a_form_error(clinician_client: Client, patient: Patient) -> None:
    response = clinician_client.post(reverse("lesion-create", args=[patient.uuid]), lesion_form_data(body_site=""))

    assert response.status_code == 200
    assert response.context["form"].errors["body_site"] == ["Place the lesion on the body map or choose its body site."]


def test_moving_the_point_on_the_edit_form_moves_site_and_side(clinician_client: Client, patient: Patient) -> None:
    lesion = services.lesion_create(patient=patient, label="Calf", **LEFT_CALF_FROM_BEHIND)  # type: ignore[arg-type]
    data = lesion_form_data(lesion, view="anterior", map_x="0.8", map_y="0.37")  # the patient's left arm

    response = clinician_client.post(reverse("lesion-edit", args=[lesion.uuid]), data)

    assert response.status_code == 302, response.context["form"].errors
    lesion.refresh_from_db()
    assert (lesion.view, lesion.laterality, lesion.body_site) == ("anterior", "left", "upper extremity")


def test_the_lesion_page_shows_its_number_side_and_marker(clinician_client: Client, patient: Patient) -> None:
    services.lesion_create(patient=patient, label="First", body_site="head/neck")
    calf = services.lesion_create(patient=patient, label="Calf", **LEFT_CALF_FROM_BEHIND)  # type: ignore[arg-type]

    html = clinician_client.get(calf.get_absolute_url()).content.decode()
    patient_html = clinician_client.get(patient.get_absolute_url()).content.decode()

    assert "Left, back (posterior) – lower extremity" in html
    assert 'aria-label="Lesion 2: Calf, Left, back (posterior) – lower extremity (back)"' in html
    assert 'class="marker current"' in html
    assert 'aria-label="Lesion 2: Calf, Left, back (posterior) – lower extremity (back)"' in patient_html
