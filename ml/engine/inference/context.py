"""Patient context for the analysis: age at the photo, sex and body site, as model features.

HAM10000 records the same three fields (``age``, ``sex``, ``localization``); its localization
values are mapped here onto the ISIC ``anatom_site_general`` body sites the app uses. Every
field may be missing: a missing field encodes as zeros (and a "known" flag for the age), and
the fusion head that reads these features is trained with fields dropped at random, so a
photo without a date of birth or a body site is still analysed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from ml.engine.data import Record

# The ISIC archive's anatom_site_general values (the app's Lesion.BodySite uses the same strings).
ISIC_SITES: tuple[str, ...] = (
    "head/neck",
    "upper extremity",
    "lower extremity",
    "anterior torso",
    "posterior torso",
    "lateral torso",
    "palms/soles",
    "oral/genital",
)
# A torso site whose side is not recorded (HAM10000's "trunk"): torso without a side.
TORSO = "torso"
SEXES: tuple[str, ...] = ("female", "male")

# HAM10000 ``localization`` → ISIC site. "unknown" (and anything unlisted) is a missing site.
HAM_LOCALIZATION_TO_SITE: dict[str, str] = {
    "abdomen": "anterior torso",
    "chest": "anterior torso",
    "back": "posterior torso",
    "trunk": TORSO,
    "face": "head/neck",
    "scalp": "head/neck",
    "ear": "head/neck",
    "neck": "head/neck",
    "upper extremity": "upper extremity",
    "hand": "upper extremity",
    "lower extremity": "lower extremity",
    "foot": "lower extremity",
    "acral": "palms/soles",
    "genital": "oral/genital",
}

# Feature layout: age (known, centred, squared), sex (one-hot), site (one-hot; the three torso
# sites also set "torso", so a torso photo of unknown side shares what all torso photos share).
_SITE_FEATURES: tuple[str, ...] = (
    "head/neck",
    "upper extremity",
    "lower extremity",
    TORSO,
    "anterior torso",
    "posterior torso",
    "lateral torso",
    "palms/soles",
    "oral/genital",
)
CONTEXT_FEATURES: tuple[str, ...] = (
    "age_known",
    "age",
    "age_squared",
    *(f"sex={s}" for s in SEXES),
    *(f"site={s}" for s in _SITE_FEATURES),
)
AGE_CENTRE = 50.0
AGE_SCALE = 20.0
MAX_AGE = 120.0
FIELDS: tuple[str, ...] = ("age", "sex", "site")


@dataclass(frozen=True)
class PatientContext:
    """What the app knows about the patient when the photo was taken (every field optional)."""

    age: float | None = None  # years at the photo's visit
    sex: str | None = None  # "female" or "male"; anything else counts as unknown
    site: str | None = None  # an ISIC site (or "torso"); anything else counts as unknown

    @classmethod
    def from_ham(cls, age: str | float | None, sex: str | None, localization: str | None) -> PatientContext:
        """A HAM10000 metadata row's ``age``, ``sex`` and ``localization``."""
        return cls(
            age=_parse_age(age),
            sex=sex if sex in SEXES else None,
            site=HAM_LOCALIZATION_TO_SITE.get((localization or "").strip().lower()),
        )

    def without(self, *fields: str) -> PatientContext:
        """The same context with the named fields unknown."""
        unknown = set(fields) - set(FIELDS)
        if unknown:
            raise ValueError(f"unknown context fields {sorted(unknown)}; fields are {FIELDS}")
        return replace(self, **dict.fromkeys(fields))

    def features(self) -> np.ndarray:
        """The context as a float32 vector laid out as ``CONTEXT_FEATURES``."""
        out = np.zeros(len(CONTEXT_FEATURES), dtype=np.float32)
        age = _parse_age(self.age)
        if age is not None:
            centred = (age - AGE_CENTRE) / AGE_SCALE
            out[0:3] = (1.0, centred, centred * centred)
        if self.sex in SEXES:
            out[3 + SEXES.index(self.sex)] = 1.0
        site_offset = 3 + len(SEXES)
        if self.site in _SITE_FEATURES:
            out[site_offset + _SITE_FEATURES.index(self.site)] = 1.0
            if self.site.endswith(" torso"):
                out[site_offset + _SITE_FEATURES.index(TORSO)] = 1.0
        return out

    def describe(self) -> dict[str, float | str | None]:
        return {"age": self.age, "sex": self.sex, "site": self.site}


def _parse_age(value: str | float | None) -> float | None:
    if value is None or value == "":
        return None
    try:
        age = float(value)
    except (TypeError, ValueError):
        return None
    if math.isnan(age) or not 0.0 <= age <= MAX_AGE:
        return None
    return age


def context_matrix(contexts: Sequence[PatientContext]) -> np.ndarray:
    """Features of many contexts, (N, len(CONTEXT_FEATURES)) float32."""
    if not contexts:
        return np.zeros((0, len(CONTEXT_FEATURES)), dtype=np.float32)
    return np.stack([c.features() for c in contexts])


def context_of(record: Record) -> PatientContext:
    """The patient context of a HAM10000-style metadata row."""
    return PatientContext.from_ham(record.age, record.sex, record.localization)


def drop_fields_at_random(
    contexts: Sequence[PatientContext], probability: float, rng: np.random.Generator
) -> list[PatientContext]:
    """Each field of each context made unknown with ``probability`` (training-time augmentation)."""
    out = []
    for context in contexts:
        dropped = [f for f in FIELDS if rng.random() < probability]
        out.append(context.without(*dropped) if dropped else context)
    return out


__all__ = [
    "CONTEXT_FEATURES",
    "FIELDS",
    "HAM_LOCALIZATION_TO_SITE",
    "ISIC_SITES",
    "SEXES",
    "TORSO",
    "PatientContext",
    "context_matrix",
    "context_of",
    "drop_fields_at_random",
]
