"""The follow-up rules (lesions.followup) at their boundaries, over plain rows without a database."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from types import SimpleNamespace
from typing import Any

import pytest

from lesions.followup import (
    MALIGNANT_ROSE,
    NEW_LESION,
    TOP_CLASS_CHANGED,
    VisitAnalysis,
    agreement_summary,
    analysis_for_diagnosis,
    body_map_markers,
    class_differences,
    compare_pair,
    lesion_change_flags,
    lesion_timeline,
    patient_followups,
    trend_data,
)

_ids = itertools.count(1)
DEFAULT = SimpleNamespace(name="effnet", is_default=True)
OTHER = SimpleNamespace(name="resnet", is_default=False)


def probs(malignant: float, top: str = "nv") -> dict[str, float]:
    """Probabilities whose mel + bcc + akiec sum to ``malignant`` (all of it on mel)."""
    rest = {"akiec": 0.0, "bcc": 0.0, "bkl": 0.0, "df": 0.0, "mel": malignant, "nv": 0.0, "vasc": 0.0}
    rest[top if top not in {"mel"} else "nv"] += 1.0 - malignant
    return rest


def prediction(
    top: str = "nv", malignant: float = 0.1, *, status: str = "done", model: Any = DEFAULT
) -> SimpleNamespace:
    done = status == "done"
    return SimpleNamespace(
        status=status,
        top_class=top if done else "",
        probabilities=probs(malignant, top) if done else {},
        confidence=0.7 if done else None,
        model_version=model,
        heatmap="",
    )


def visit(day: dt.date) -> SimpleNamespace:
    pk = next(_ids)
    return SimpleNamespace(
        pk=pk, uuid=uuid.uuid4(), date=day, created_at=dt.datetime(2020, 1, 1) + dt.timedelta(seconds=pk)
    )


def image(on: SimpleNamespace, *predictions: SimpleNamespace, lesion_id: int = 1) -> SimpleNamespace:
    pk = next(_ids)
    return SimpleNamespace(
        pk=pk,
        visit=on,
        visit_id=on.pk,
        lesion_id=lesion_id,
        created_at=dt.datetime(2020, 1, 1) + dt.timedelta(seconds=pk),
        predictions=SimpleNamespace(all=lambda: list(predictions)),
    )


def timeline(*per_visit: SimpleNamespace | None, start: dt.date = dt.date(2024, 1, 1)) -> list[VisitAnalysis]:
    """One visit per argument, 90 days apart; None: a photo without any prediction."""
    images = []
    for n, pred in enumerate(per_visit):
        v = visit(start + dt.timedelta(days=90 * n))
        images.append(image(v, *([pred] if pred is not None else [])))
    return lesion_timeline(images)


def flags(entries: list[VisitAnalysis], threshold: float = 0.10, dates: list[dt.date] | None = None) -> set[str]:
    visit_dates = dates if dates is not None else [entry.date for entry in entries]
    return {f.kind for f in lesion_change_flags(timeline=entries, patient_visit_dates=visit_dates, threshold=threshold)}


# --- malignant rise -----------------------------------------------------------------------------


def test_no_flag_without_a_previous_visit() -> None:
    assert flags(timeline(prediction("mel", 0.9))) == set()


def test_a_rise_exactly_at_the_threshold_is_not_flagged() -> None:
    # in floating point 0.3 - 0.2 is 0.09999999999999998 but 0.8 - 0.7 is 0.10000000000000009: both are 10 points
    assert flags(timeline(prediction(malignant=0.2), prediction(malignant=0.3))) == set()
    assert flags(timeline(prediction(malignant=0.25), prediction(malignant=0.35))) == set()
    assert flags(timeline(prediction(malignant=0.7), prediction(malignant=0.8))) == set()


def test_a_rise_just_above_the_threshold_is_flagged() -> None:
    entries = timeline(prediction(malignant=0.2), prediction(malignant=0.300001))

    (flag,) = lesion_change_flags(timeline=entries, patient_visit_dates=[e.date for e in entries], threshold=0.10)

    assert flag.kind == MALIGNANT_ROSE
    assert "20% → 30%" in flag.detail
    assert "since 2024-01-01" in flag.detail


def test_a_fall_is_not_flagged() -> None:
    assert flags(timeline(prediction(malignant=0.6), prediction(malignant=0.1))) == set()


def test_the_default_threshold_comes_from_the_settings(settings: Any) -> None:
    entries = timeline(prediction(malignant=0.2), prediction(malignant=0.26))
    dates = [e.date for e in entries]

    settings.FOLLOWUP_MALIGNANT_RISE_THRESHOLD = 0.10
    assert lesion_change_flags(timeline=entries, patient_visit_dates=dates) == []
    settings.FOLLOWUP_MALIGNANT_RISE_THRESHOLD = 0.05
    assert [f.kind for f in lesion_change_flags(timeline=entries, patient_visit_dates=dates)] == [MALIGNANT_ROSE]


def test_it_compares_with_the_previous_visit_not_the_first() -> None:
    # +40 points since the first visit, but only +5 since the previous one
    assert flags(timeline(prediction(malignant=0.1), prediction(malignant=0.45), prediction(malignant=0.5))) == set()


# --- top class ----------------------------------------------------------------------------------


def test_the_same_top_class_is_not_flagged() -> None:
    assert flags(timeline(prediction("nv", 0.1), prediction("nv", 0.15))) == set()


def test_a_changed_top_class_is_flagged() -> None:
    entries = timeline(prediction("nv", 0.1), prediction("bkl", 0.1))

    (flag,) = lesion_change_flags(timeline=entries, patient_visit_dates=[e.date for e in entries], threshold=0.1)

    assert flag.kind == TOP_CLASS_CHANGED
    assert "Melanocytic naevus → Benign keratosis" in flag.detail


def test_both_flags_at_once() -> None:
    assert flags(timeline(prediction("nv", 0.1), prediction("mel", 0.6))) == {TOP_CLASS_CHANGED, MALIGNANT_ROSE}


# --- failed and pending predictions -------------------------------------------------------------


@pytest.mark.parametrize("status", ["pending", "running", "failed"])
def test_an_unfinished_latest_visit_is_ignored(status: str) -> None:
    # the latest visit is not analysed: the two earlier (unchanged) visits are compared
    entries = timeline(prediction("nv", 0.1), prediction("nv", 0.12), prediction(status=status))

    assert flags(entries) == set()
    assert entries[-1].prediction is None


@pytest.mark.parametrize("status", ["pending", "failed"])
def test_an_unfinished_previous_visit_is_skipped(status: str) -> None:
    entries = timeline(prediction("nv", 0.1), prediction(status=status), prediction("mel", 0.7))

    assert flags(entries) == {TOP_CLASS_CHANGED, MALIGNANT_ROSE}


def test_a_single_finished_analysis_among_unfinished_ones_raises_no_flag() -> None:
    assert flags(timeline(prediction(status="failed"), None, prediction("mel", 0.9))) == set()


def test_it_uses_the_default_models_prediction() -> None:
    day1, day2 = visit(dt.date(2024, 1, 1)), visit(dt.date(2024, 6, 1))
    entries = lesion_timeline(
        [
            image(day1, prediction("nv", 0.1, model=DEFAULT), prediction("nv", 0.1, model=OTHER)),
            image(day2, prediction("mel", 0.9, model=OTHER), prediction("nv", 0.12, model=DEFAULT)),
        ]
    )

    assert entries[1].top_class == "nv"
    assert flags(entries) == set()


def test_it_falls_back_to_another_model_when_the_default_did_not_finish() -> None:
    day1, day2 = visit(dt.date(2024, 1, 1)), visit(dt.date(2024, 6, 1))
    entries = lesion_timeline(
        [
            image(day1, prediction("nv", 0.1)),
            image(day2, prediction(status="failed", model=DEFAULT), prediction("mel", 0.9, model=OTHER)),
        ]
    )

    assert entries[1].top_class == "mel"
    assert flags(entries) == {TOP_CLASS_CHANGED, MALIGNANT_ROSE}


def test_a_visit_with_two_photos_speaks_with_the_default_models_analysis() -> None:
    day = visit(dt.date(2024, 1, 1))
    first = image(day, prediction("bkl", model=OTHER))
    second = image(day, prediction("df", model=DEFAULT))

    (entry,) = lesion_timeline([first, second])

    assert entry.image is second
    assert entry.top_class == "df"
    assert entry.images == (first, second)


# --- new lesion ---------------------------------------------------------------------------------


def test_a_lesion_first_photographed_at_the_latest_visit_is_new() -> None:
    entries = timeline(prediction(), start=dt.date(2024, 6, 1))
    patient_dates = [dt.date(2023, 1, 1), dt.date(2024, 6, 1)]

    (flag,) = lesion_change_flags(timeline=entries, patient_visit_dates=patient_dates, threshold=0.1)

    assert flag.kind == NEW_LESION
    assert "2024-06-01" in flag.detail


def test_a_lesion_seen_before_the_latest_visit_is_not_new() -> None:
    entries = timeline(prediction(), prediction())  # 2024-01-01 and 2024-03-31
    patient_dates = [dt.date(2024, 1, 1), dt.date(2024, 3, 31)]

    assert NEW_LESION not in flags(entries, dates=patient_dates)


def test_a_lesion_of_the_patients_first_visit_is_not_new() -> None:
    entries = timeline(prediction(), start=dt.date(2024, 6, 1))

    assert flags(entries, dates=[dt.date(2024, 6, 1), dt.date(2024, 6, 1)]) == set()


def test_a_lesion_not_photographed_at_the_latest_visit_is_not_new() -> None:
    entries = timeline(prediction(), start=dt.date(2024, 6, 1))

    assert flags(entries, dates=[dt.date(2024, 1, 1), dt.date(2024, 6, 1), dt.date(2024, 9, 1)]) == set()


def test_a_lesion_without_photos_has_no_flag() -> None:
    assert flags([], dates=[dt.date(2024, 1, 1), dt.date(2024, 6, 1)]) == set()


def test_a_new_lesion_needs_no_analysis() -> None:
    entries = timeline(None, start=dt.date(2024, 6, 1))

    assert flags(entries, dates=[dt.date(2024, 1, 1), dt.date(2024, 6, 1)]) == {NEW_LESION}


# --- patient page ordering ----------------------------------------------------------------------


def test_flagged_lesions_come_first_then_the_highest_risk() -> None:
    lesions = [
        SimpleNamespace(pk=pk, label=label) for pk, label in enumerate(["A calm", "B risky", "C flagged", "D none"])
    ]
    d1, d2 = visit(dt.date(2024, 1, 1)), visit(dt.date(2024, 6, 1))
    images = [
        image(d1, prediction("nv", 0.05), lesion_id=0),
        image(d2, prediction("nv", 0.06), lesion_id=0),
        image(d1, prediction("mel", 0.8), lesion_id=1),
        image(d2, prediction("mel", 0.8), lesion_id=1),
        image(d1, prediction("nv", 0.1), lesion_id=2),
        image(d2, prediction("nv", 0.3), lesion_id=2),
    ]

    ordered = patient_followups(lesions, images, patient_visit_dates=[d1.date, d2.date], threshold=0.1)

    assert [f.lesion.label for f in ordered] == ["C flagged", "B risky", "A calm", "D none"]
    assert ordered[0].flagged
    assert ordered[1].latest_malignant_probability == pytest.approx(0.8)
    assert ordered[3].timeline == []


# --- comparison and trend -----------------------------------------------------------------------


def test_compare_defaults_to_the_first_and_the_latest_visit() -> None:
    entries = timeline(prediction(), prediction(), prediction())

    assert compare_pair(entries) == (entries[0], entries[2])
    assert compare_pair(entries, str(entries[1].visit.uuid), None) == (entries[1], entries[2])
    assert compare_pair([]) is None
    with pytest.raises(KeyError):
        compare_pair(entries, str(uuid.uuid4()))


def test_class_differences_are_b_minus_a_with_the_malignant_sum_last() -> None:
    a, b = timeline(prediction("nv", 0.1), prediction("mel", 0.6))

    rows = {row.code: row for row in class_differences(a, b)}

    assert list(rows)[-1] == "malignant"
    assert len(rows) == 8
    assert rows["mel"].delta_points == pytest.approx(50.0)
    assert rows["nv"].delta_points == pytest.approx(-50.0)
    assert rows["malignant"].before_percent == pytest.approx(10.0)
    assert rows["bcc"].delta == 0


def test_a_tiny_fall_rounds_to_zero_points_without_a_sign() -> None:
    a, b = timeline(prediction("nv", 0.30004), prediction("nv", 0.3))

    mel = next(row for row in class_differences(a, b) if row.code == "mel")

    assert str(mel.delta_points) == "0.0"


def test_class_differences_without_an_analysis_have_no_delta() -> None:
    a, b = timeline(None, prediction())

    assert all(row.delta is None for row in class_differences(a, b))


def test_trend_data_has_a_gap_where_a_visit_is_not_analysed() -> None:
    entries = timeline(prediction("nv", 0.1), prediction(status="failed"), prediction("mel", 0.5))

    data = trend_data(entries)

    assert data["labels"] == ["2024-01-01", "2024-03-31", "2024-06-29"]
    series = {s["code"]: s for s in data["series"]}
    assert len(series) == 8
    assert series["mel"]["values"] == [10.0, None, 50.0]
    assert series["malignant"]["values"] == [10.0, None, 50.0]
    assert series["nv"]["values"] == [90.0, None, 50.0]


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


# --- body map -----------------------------------------------------------------------------------


def test_body_map_puts_each_site_on_the_right_view_and_spreads_lesions() -> None:
    def followup(site: str) -> SimpleNamespace:
        return SimpleNamespace(lesion=SimpleNamespace(body_site=site), flagged=False, flags=[])

    sites = ["posterior torso", "posterior torso", "anterior torso", "head/neck", "oral/genital", "oral/genital"]

    markers = body_map_markers([followup(site) for site in sites])  # type: ignore[arg-type]

    assert [m.number for m in markers] == [1, 2, 3, 4, 5, 6]
    assert [m.view for m in markers] == ["back", "back", "front", "front", "front", "front"]
    assert len({(m.x, m.y) for m in markers}) == len(markers)  # no two markers on one spot
    assert markers[0].x > 190 > markers[2].x  # back figure on the right
