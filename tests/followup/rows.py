"""Plain rows (photos, visits, predictions) for the follow-up rule tests: no database needed."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from types import SimpleNamespace
from typing import Any

from followup.flags import lesion_change_flags
from followup.timeline import VisitAnalysis, lesion_timeline
from ml.models import Measured

_ids = itertools.count(1)
DEFAULT = SimpleNamespace(name="effnet", is_default=True)
OTHER = SimpleNamespace(name="resnet", is_default=False)


def probs(malignant: float, top: str = "nv") -> dict[str, float]:
    """Probabilities whose mel + bcc + akiec sum to ``malignant`` (all of it on mel)."""
    rest = {"akiec": 0.0, "bcc": 0.0, "bkl": 0.0, "df": 0.0, "mel": malignant, "nv": 0.0, "vasc": 0.0}
    rest[top if top not in {"mel"} else "nv"] += 1.0 - malignant
    return rest


def prediction(
    top: str = "nv",
    malignant: float = 0.1,
    *,
    status: str = "done",
    model: Any = DEFAULT,
    melanoma_flag: bool | None = None,
    melanoma_threshold: float | None = None,
) -> SimpleNamespace:
    done = status == "done"
    return SimpleNamespace(
        status=status,
        top_class=top if done else "",
        probabilities=probs(malignant, top) if done else {},
        confidence=0.7 if done else None,
        model_version=model,
        heatmap="",
        melanoma_flag=melanoma_flag if done else None,
        melanoma_threshold=melanoma_threshold,
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


def measured(
    area: float = 0.2,
    diameter: float = 0.5,
    *,
    mm_per_pixel: float | None = None,
    colours: dict[str, float] | None = None,
    asymmetry: float = 0.05,
    compactness: float = 1.1,
    width: int = 200,
    height: int = 150,
) -> Measured:
    """An outline's measurements: ``area`` and ``diameter`` as shares of a width × height photo."""
    shares = {"dark_brown": 0.8} if colours is None else colours
    longer = max(width, height)
    return Measured(
        area_fraction=area,
        diameter_fraction=diameter,
        width_fraction=0.8 * diameter,
        area_px=area * width * height,
        diameter_px=diameter * longer,
        width_px=0.8 * diameter * longer,
        compactness=compactness,
        asymmetry_major_axis=asymmetry,
        asymmetry_minor_axis=asymmetry / 2,
        colours=tuple(c for c, share in shares.items() if share >= 0.05),
        colour_shares=shares,
        mm_per_pixel=mm_per_pixel,
        pixel_size_source="measured for this photo" if mm_per_pixel else "",
    )


def outlined_timeline(
    *per_visit: Measured | tuple[Measured | None, str] | None, start: dt.date = dt.date(2024, 1, 1)
) -> list[VisitAnalysis]:
    """One analysed visit per argument, 90 days apart, its photo outlined with these measurements
    (None: not outlined); a (measurements, image type) pair for a photo that is not dermoscopic."""
    images = []
    for n, row in enumerate(per_visit):
        values, image_type = row if isinstance(row, tuple) else (row, "dermoscopic")
        photo = image(visit(start + dt.timedelta(days=90 * n)), prediction())
        photo.image_type = image_type
        if values is not None:
            photo.outline = SimpleNamespace(measured=values, polygon=[[0, 0], [1, 0], [1, 1]])
        images.append(photo)
    return lesion_timeline(images)
