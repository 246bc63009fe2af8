"""A clinician uploads a photo and sees its analysis appear without reloading the page."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lesions.models import Lesion
from ml.models import Prediction
from tests.helpers import SAMPLE_PHOTOS_DIR

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_analysis_appears_without_a_reload(
    page: Any,
    log_in: Callable[[Any], None],
    upload_photo: Callable[[Any, Path], None],
    screenshot: Callable[[str], None],
    clinician: Any,
    lesion: Lesion,
    tiny_weights_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    server_lock: threading.RLock,
) -> None:
    from ml import analysis, tasks

    # The live server runs in this process: keep the queued analysis from running, so the page
    # first shows it pending; the test runs it below, while the page is open.
    monkeypatch.setattr(tasks, "prediction_send", lambda prediction_id: None)
    photo = sorted(SAMPLE_PHOTOS_DIR.glob("*.jpg"))[0]

    log_in(clinician)
    upload_photo(lesion, photo)

    panel = page.locator(".analysis").first
    assert panel.get_attribute("data-pending") == "1"
    assert page.locator(".analysis .spinner").is_visible()
    assert "Waiting for analysis" in panel.inner_text()
    page.evaluate("window.__stillTheSamePage = 'yes'")
    screenshot("live-analysis-pending")

    with server_lock:  # the page keeps polling meanwhile: no query of ours at the same time
        prediction = Prediction.objects.get(image__lesion=lesion)
        assert prediction.status == Prediction.Status.PENDING
        analysis.prediction_run(prediction_id=prediction.pk)
        prediction.refresh_from_db()
    assert prediction.status == Prediction.Status.DONE

    page.wait_for_selector(".analysis:not([data-pending]) .bars")  # app.js polls every 2 s
    done = page.locator(".analysis").first
    assert done.locator(".bars li").count() == 7
    assert prediction.top_class_name in done.locator(".prediction header .top").inner_text()
    assert done.locator(".spinner").count() == 0
    assert done.locator("img.overlay").count() == 1  # the heatmap
    assert page.evaluate("window.__stillTheSamePage") == "yes"
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
    screenshot("live-analysis-done")
