"""The model's agreement with confirmed diagnoses (followup.agreement), over plain rows."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from followup.agreement import agreement_summary, analysis_for_diagnosis
from tests.followup.rows import DEFAULT, OTHER, prediction, timeline

# --- agreement ----------------------------------------------------------------------------------


def test_the_analysis_for_a_diagnosis_is_the_latest_at_or_before_its_date() -> None:
    entries = timeline(prediction("nv"), prediction("mel"), prediction("bkl"))  # Jan 1, Mar 31, Jun 29

    assert analysis_for_diagnosis(entries, dt.date(2024, 3, 31)) is entries[1]
    assert analysis_for_diagnosis(entries, dt.date(2024, 5, 1)) is entries[1]
    assert analysis_for_diagnosis(entries, dt.date(2023, 1, 1)) is entries[2]  # none before: the latest
    assert analysis_for_diagnosis(entries, None) is entries[2]
    assert analysis_for_diagnosis(timeline(None), None) is None


def test_the_analysis_for_a_diagnosis_prefers_the_default_model() -> None:
    entries = timeline(prediction("mel", model=DEFAULT), prediction("nv", model=OTHER))

    assert analysis_for_diagnosis(entries, None) is entries[0]


def test_agreement_counts_per_class_and_in_a_confusion_table() -> None:
    def lesion(dx: str) -> SimpleNamespace:
        return SimpleNamespace(diagnosis=dx, diagnosis_date=None)

    cases = [
        (lesion("mel"), timeline(prediction("mel"))),
        (lesion("mel"), timeline(prediction("nv"))),
        (lesion("nv"), timeline(prediction("nv"))),
        (lesion("other"), timeline(prediction("bkl"))),
        (lesion("bcc"), timeline(None)),
    ]

    summary = agreement_summary(cases)

    assert (summary.n, summary.agreed, summary.percent) == (4, 2, 50.0)
    per_class = {row.code: row for row in summary.per_class}
    assert (per_class["mel"].n, per_class["mel"].agreed, per_class["mel"].percent) == (2, 1, 50.0)
    assert per_class["other"].agreed == 0
    assert per_class["bcc"].n == 0 and per_class["bcc"].percent is None
    assert [case.lesion.diagnosis for case in summary.unanalysed] == ["bcc"]
    confusion = {row.code: row for row in summary.confusion}
    assert confusion["mel"].counts == [0, 0, 0, 0, 1, 1, 0]  # akiec bcc bkl df mel nv vasc
    assert [diagonal for _, _, diagonal in confusion["mel"].cells] == [False] * 4 + [True, False, False]
    assert confusion["other"].counts == [0, 0, 1, 0, 0, 0, 0]
