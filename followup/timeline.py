"""Which prediction speaks for a photo and a visit, and a lesion's visits in order.

Pure functions over rows the views already loaded through the scoped selectors (photos with
their predictions prefetched): nothing in ``followup`` queries the database, so the rules can
be read in one place and tested at their boundaries.

Which prediction speaks for a photo: the default model's finished one, else any finished one
(default first, then by model name). Pending, running and failed predictions are ignored, as if
the photo had not been analysed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from ml.engine.labels import CLASS_NAMES
from ml.models import Measured, class_probabilities, default_model_first, malignant_sum, outline_of


def _is_usable(prediction: Any) -> bool:
    return prediction.status == "done" and bool(prediction.top_class) and bool(prediction.probabilities)


def usable_prediction(predictions: Iterable[Any]) -> Any | None:
    """The default model's finished prediction, else any finished one, else None."""
    done = [p for p in predictions if _is_usable(p)]
    done.sort(key=lambda p: default_model_first(p.model_version))
    return done[0] if done else None


@dataclass(frozen=True)
class VisitAnalysis:
    """One visit of one lesion: its photos, and the photo and prediction that speak for it."""

    visit: Any
    images: tuple[Any, ...]
    image: Any
    prediction: Any | None

    @property
    def date(self) -> dt.date:
        day: dt.date = self.visit.date
        return day

    @property
    def is_analysed(self) -> bool:
        return self.prediction is not None

    @property
    def is_default_model(self) -> bool:
        return self.prediction is not None and bool(self.prediction.model_version.is_default)

    @property
    def top_class(self) -> str:
        return self.prediction.top_class if self.prediction else ""

    @property
    def top_class_name(self) -> str:
        return CLASS_NAMES.get(self.top_class, self.top_class)

    @property
    def confidence(self) -> float | None:
        return self.prediction.confidence if self.prediction else None

    @property
    def probabilities(self) -> dict[str, float]:
        if not self.prediction:
            return {}
        return class_probabilities(self.prediction.probabilities)

    @property
    def malignant_probability(self) -> float | None:
        if not self.prediction:
            return None
        return malignant_sum(self.probabilities)

    @property
    def melanoma_flag(self) -> bool | None:
        """The analysis's melanoma triage flag (None without one)."""
        return self.prediction.melanoma_flag if self.prediction else None

    @property
    def outline(self) -> Any | None:
        """The outline of the photo that speaks for the visit (None if it has none)."""
        return outline_of(self.image)

    @property
    def measured(self) -> Measured | None:
        """The lesion's measurements at this visit (None unless its photo was outlined)."""
        outline = self.outline
        return outline.measured if outline is not None else None


def visit_analysis(visit: Any, images: Sequence[Any]) -> VisitAnalysis:
    """Pick the photo of a visit whose prediction speaks for it: default model first, then any."""
    candidates = [(image, usable_prediction(image.predictions.all())) for image in images]
    analysed = [(image, p) for image, p in candidates if p is not None]
    analysed.sort(key=lambda pair: not pair[1].model_version.is_default)  # stable: photo order kept
    image, prediction = analysed[0] if analysed else (images[0], None)
    return VisitAnalysis(visit=visit, images=tuple(images), image=image, prediction=prediction)


def lesion_timeline(images: Iterable[Any]) -> list[VisitAnalysis]:
    """A lesion's photos grouped by visit, oldest visit first (photos with predictions prefetched)."""
    ordered = sorted(images, key=lambda i: (i.visit.date, i.visit.created_at, i.visit_id, i.created_at))
    return [
        visit_analysis(group[0].visit, group)
        for _, g in groupby(ordered, key=lambda i: i.visit_id)
        if (group := list(g))
    ]
