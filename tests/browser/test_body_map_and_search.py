"""In a real browser, on a desktop and on a 390 x 844 phone: a lesion placed on the back of the left
calf shows its marker there; "Tomás" is found by "tomas" and by his date of birth."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest

from lesions.models import Lesion, Patient
from tests.factories import PASSWORD, PatientFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENS = {
    "desktop": {"viewport": {"width": 1280, "height": 900}},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "is_mobile": True,
        "has_touch": True,
        "device_scale_factor": 2,
    },
}


@pytest.fixture(params=sorted(SCREENS))
def screen(request: pytest.FixtureRequest, chromium: Any, server_lock: Any, live_server: Any) -> Iterator[Any]:
    """A page on a desktop or a phone, failing the test on a JavaScript error or a CSP report."""
    context = chromium.new_context(base_url=live_server.url, **SCREENS[request.param])
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.phone = request.param == "phone"
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda m: "Content Security Policy" in m.text and problems.append(m.text))
    yield page
    context.close()
    with server_lock:
        pass
    assert problems == []


def log_in(page: Any, user: Any) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/patients/")


def screen_point(page: Any, selector: str, x: float, y: float) -> dict[str, float]:
    """Where the SVG point (x, y) of the SVG ``selector`` is on the screen."""
    return page.evaluate(
        """([selector, x, y]) => {
            const svg = document.querySelector(selector);
            const p = svg.createSVGPoint(); p.x = x; p.y = y;
            const s = p.matrixTransform(svg.getScreenCTM());
            return {x: s.x, y: s.y};
        }""",
        [selector, x, y],
    )


def test_a_lesion_placed_on_the_back_of_the_left_calf_shows_there(
    screen: Any, clinician: Any, server_lock: Any
) -> None:
    page = screen
    with server_lock:
        patient: Patient = PatientFactory(clinic=clinician.clinics.get(), first_name="Oskar", last_name="Nyström")
    log_in(page, clinician)
    page.goto(f"/patients/{patient.uuid}/lesions/new/")
    page.fill("#id_label", "Left posterior calf naevus")
    # The back figure's centre line is at x 285; the patient's left is on the viewer's left from behind.
    page.locator(".body-map-picker svg").scroll_into_view_if_needed()
    calf = screen_point(page, ".body-map-picker svg", 285 - 20, 12 + 240)
    if page.phone:
        page.touchscreen.tap(calf["x"], calf["y"])
    else:
        page.mouse.click(calf["x"], calf["y"])
    assert page.locator(".pick-status").inner_text() == "Placed on the back, patient's left."
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"/lesions/[0-9a-f-]{36}/$"))

    with server_lock:
        lesion = Lesion.objects.get()
    assert (lesion.view, lesion.laterality, lesion.body_site) == ("posterior", "left", "lower extremity")
    assert page.get_by_text("Left, back (posterior) – lower extremity").first.is_visible()

    page.goto(f"/patients/{patient.uuid}/")
    marker = page.locator(f'.body-map a.marker[data-lesion="{lesion.uuid}"]')
    assert marker.get_attribute("data-view") == "posterior"
    assert marker.locator("text").text_content() == "1"  # the lesion's own number, as in the list
    assert page.locator(".lesion-number").first.inner_text() == "1"
    box = marker.locator(".shape").bounding_box()
    centre = {"x": box["x"] + box["width"] / 2, "y": box["y"] + box["height"] / 2}
    spine = screen_point(page, ".body-map svg", 285, 12 + 240)
    knee, ankle = screen_point(page, ".body-map svg", 285, 12 + 200), screen_point(page, ".body-map svg", 285, 12 + 284)
    front_centre = screen_point(page, ".body-map svg", 95, 12 + 240)
    assert front_centre["x"] < centre["x"] < spine["x"]  # on the back figure, on its left-leg side
    assert knee["y"] < centre["y"] < ankle["y"]  # on the calf
    hit = marker.locator(".hit").bounding_box()
    if page.phone:
        assert hit["width"] >= 44 and hit["height"] >= 44  # a tappable target


def test_tomas_is_found_by_tomas_and_by_his_date_of_birth(screen: Any, clinician: Any, server_lock: Any) -> None:
    page = screen
    with server_lock:
        PatientFactory(
            clinic=clinician.clinics.get(), first_name="Tomás", last_name="Ibarra", date_of_birth=dt.date(1961, 3, 14)
        )
        PatientFactory(clinic=clinician.clinics.get(), first_name="Margaret", last_name="Hale")
    log_in(page, clinician)

    for search in ("tomas", "1961-03-14"):
        page.fill('input[name="q"]', search)
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"q="))
        page.wait_for_load_state("load")  # the results page itself, not the list it replaces
        rows = page.locator("table tbody tr, .patients li")
        rows.first.wait_for(state="visible")
        text = page.locator("main").inner_text()
        assert "Tomás" in text, search
        assert "Hale" not in text, search
        assert rows.count() >= 1


def test_the_audit_filters_keep_their_width_and_a_clinician_gets_the_styled_403(
    screen: Any, clinic_admin: Any, clinician: Any
) -> None:
    page = screen
    log_in(page, clinic_admin)
    page.goto("/clinic/audit/")

    for name in ("patient", "actor", "action", "date_from", "date_to"):
        box = page.locator(f'.audit-filters [name="{name}"]').bounding_box()
        assert box is not None and box["width"] >= 120, name  # the user box once collapsed to nothing

    menu = page.get_by_role("button", name="Menu")
    if menu.is_visible():  # on a phone the navigation, and its log-out, sit behind the menu button
        menu.click()
    page.get_by_role("button", name="Log out").click()
    log_in(page, clinician)
    response = page.goto("/clinic/audit/")
    assert response.status == 403
    assert page.get_by_role("heading", name="You do not have access to this page").is_visible()


def test_the_point_can_be_placed_with_the_keyboard(screen: Any, clinician: Any, server_lock: Any) -> None:
    page = screen
    if page.phone:
        pytest.skip("a keyboard is the desktop's")
    with server_lock:
        patient: Patient = PatientFactory(clinic=clinician.clinics.get())
    log_in(page, clinician)
    page.goto(f"/patients/{patient.uuid}/lesions/new/")

    page.locator(".body-map-picker svg").focus()
    page.keyboard.press("b")
    for _ in range(10):
        page.keyboard.press("ArrowLeft")  # from the centre line towards the viewer's left: the patient's left, behind

    assert page.locator(".pick-status").inner_text() == "Placed on the back, patient's left."
    assert page.input_value('input[name="view"]') == "posterior"
    assert page.input_value('input[name="map_x"]') == "0.4000"
