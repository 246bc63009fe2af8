"""Patient context: HAM10000 fields mapped onto the app's body sites and encoded as features."""

from __future__ import annotations

import numpy as np
import pytest

from ml.engine.data import Record
from ml.engine.inference.context import (
    CONTEXT_FEATURES,
    HAM_LOCALIZATION_TO_SITE,
    ISIC_SITES,
    PatientContext,
    context_matrix,
    context_of,
    drop_fields_at_random,
)


def feature(vector: np.ndarray, name: str) -> float:
    return float(vector[CONTEXT_FEATURES.index(name)])


def test_every_ham_localization_maps_onto_an_isic_site_or_the_unsided_torso() -> None:
    ham_values = {
        "abdomen", "acral", "back", "chest", "ear", "face", "foot", "genital", "hand",
        "lower extremity", "neck", "scalp", "trunk", "upper extremity",
    }  # fmt: skip
    assert set(HAM_LOCALIZATION_TO_SITE) == ham_values
    assert set(HAM_LOCALIZATION_TO_SITE.values()) <= {*ISIC_SITES, "torso"}
    assert PatientContext.from_ham("45.0", "female", "back").site == "posterior torso"
    assert PatientContext.from_ham("45.0", "female", "unknown").site is None


def test_a_full_context_encodes_age_sex_and_site() -> None:
    vector = PatientContext(age=70, sex="male", site="anterior torso").features()
    assert vector.shape == (len(CONTEXT_FEATURES),)
    assert feature(vector, "age_known") == 1.0
    assert feature(vector, "age") == pytest.approx((70 - 50) / 20)
    assert feature(vector, "age_squared") == pytest.approx(1.0)
    assert (feature(vector, "sex=male"), feature(vector, "sex=female")) == (1.0, 0.0)
    # A sided torso site also sets "torso", which is all HAM10000's "trunk" says.
    assert feature(vector, "site=anterior torso") == 1.0
    assert feature(vector, "site=torso") == 1.0
    assert vector.sum() == pytest.approx(1 + 1 + 1 + 1 + 2)


def test_missing_and_unusable_fields_encode_as_zeros() -> None:
    assert not PatientContext().features().any()
    weird = PatientContext.from_ham("", "unknown", "unknown")
    assert weird == PatientContext()
    assert PatientContext(age=float("nan")).features().sum() == 0
    assert PatientContext(age=250).features().sum() == 0
    assert PatientContext(sex="other", site="elbow").features().sum() == 0


def test_context_of_a_metadata_row_and_dropping_fields() -> None:
    record = Record("ISIC_1", "HAM_1", "mel", age="60.0", sex="female", localization="face")
    context = context_of(record)
    assert context == PatientContext(age=60.0, sex="female", site="head/neck")
    assert context.without("age", "site") == PatientContext(sex="female")
    with pytest.raises(ValueError, match="unknown context fields"):
        context.without("weight")
    rng = np.random.default_rng(0)
    dropped = drop_fields_at_random([context] * 2000, 0.3, rng)
    matrix = context_matrix(dropped)
    # each field goes missing in about 30% of the copies, independently
    assert 0.27 < 1 - matrix[:, CONTEXT_FEATURES.index("age_known")].mean() < 0.33
    assert 0.27 < 1 - matrix[:, CONTEXT_FEATURES.index("sex=female")].mean() < 0.33
    assert context_matrix([]).shape == (0, len(CONTEXT_FEATURES))
