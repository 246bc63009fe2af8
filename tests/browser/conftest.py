"""Headless Chromium (Playwright, sync API) against pytest-django's live server.

The tests are marked ``browser`` and skip when /usr/bin/chromium (Debian's chromium) or the
playwright package is missing, so ``make test`` passes on a machine without them; ``.ci/run``
installs chromium and sets DERMATRACK_REQUIRE_BROWSER=1, so in CI they run (or fail). Playwright's
own browser downloads are never used.

Set DERMATRACK_SCREENSHOTS=<folder> to keep a screenshot of the pages the tests visit.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.factories import PASSWORD

CHROMIUM = Path(os.environ.get("DERMATRACK_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="package")
def chromium() -> Iterator[Any]:
    """One headless Chromium for all the browser tests (each test gets a fresh context: ``page``)."""
    required = os.environ.get("DERMATRACK_REQUIRE_BROWSER") == "1"  # set by .ci/run: never skip there
    if not CHROMIUM.exists():
        if required:
            pytest.fail(f"DERMATRACK_REQUIRE_BROWSER=1 but {CHROMIUM} is missing")
        pytest.skip(f"browser tests need {CHROMIUM} (apt-get install chromium)")
    if required:
        from playwright import sync_api
    else:
        sync_api = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API keeps an event loop in this thread, which makes Django refuse ORM
    # calls from the test body ("cannot call this from an async context"); the tests are
    # synchronous code, so the check is switched off while the browser runs.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def server_lock(live_server: Any) -> Iterator[threading.RLock]:
    """Hold it around the test's own queries while a page is open.

    With SQLite in memory the live server's threads and the test share one database connection,
    and simultaneous queries through it fail at random (Django's LiveServerTestCase docs warn
    about this). The lock serialises the server's requests with each other and with the test.
    """
    lock = threading.RLock()
    httpd = live_server.thread.httpd
    app = httpd.get_app()

    def one_at_a_time(environ: dict[str, Any], start_response: Any) -> Any:
        with lock:
            return app(environ, start_response)

    httpd.set_app(one_at_a_time)
    yield lock
    httpd.set_app(app)


@pytest.fixture
def page(chromium: Any, server_lock: threading.RLock, live_server: Any) -> Iterator[Any]:
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server.url)
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # Chromium reports what the Content-Security-Policy blocked on the console: pages must work
    # under it, so any such report fails the test.
    blocked: list[str] = []
    page.on("console", lambda message: "Content Security Policy" in message.text and blocked.append(message.text))
    yield page
    context.close()
    with server_lock:  # a request still being served finishes before the database is flushed
        pass
    assert errors == [], f"JavaScript errors on the page: {errors}"
    assert blocked == [], f"blocked by the Content-Security-Policy: {blocked}"


@pytest.fixture
def log_in(page: Any) -> Callable[[Any], None]:
    """Log in through the login form, as a person would."""

    def submit(user: Any) -> None:
        page.goto("/accounts/login/")
        page.fill("#id_username", user.username)
        page.fill("#id_password", PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/patients/")

    return submit


@pytest.fixture
def upload_photo(page: Any) -> Callable[[Any, Path], None]:
    """``upload_photo(lesion, path)``: from the patient's page, a new visit with that photo of the lesion."""

    def submit(lesion: Any, photo: Path) -> None:
        page.goto(f"/patients/{lesion.patient.uuid}/")
        page.get_by_role("link", name="+ New visit with photos").click()
        page.select_option("#id_photos-0-lesion", str(lesion.uuid))
        page.set_input_files("#id_photos-0-photo", str(photo))
        page.get_by_role("button", name="Save visit and analyse").click()
        page.wait_for_url(re.compile(r"/visits/[0-9a-f-]{36}/$"))

    return submit


@pytest.fixture
def screenshot(page: Any) -> Callable[[str], None]:
    folder = os.environ.get("DERMATRACK_SCREENSHOTS")

    def take(name: str) -> None:
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)

    return take
