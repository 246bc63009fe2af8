"""Patient search that ignores case and accents, on SQLite and PostgreSQL alike.

Neither database folds accents the same way (SQLite's LIKE folds ASCII case only, PostgreSQL's
needs the unaccent extension), so each patient keeps a normalised copy of what is searched,
``Patient.search_text``, written on every save, and a search's words are normalised the same way.
"""

from __future__ import annotations

import unicodedata
from typing import Any


def normalise(text: str) -> str:
    """Lower case without accents: "Tomás Nyström" -> "tomas nystrom", "Straße" -> "strasse"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    # Letters that do not decompose into a base letter and a mark.
    return stripped.translate(_EXTRA).casefold()


_EXTRA = str.maketrans({"ø": "o", "đ": "d", "ł": "l", "ı": "i", "æ": "ae", "œ": "oe", "þ": "th", "ð": "d"})


def search_text_of(patient: Any) -> str:
    """What a patient is found by: first and last name and record number, normalised."""
    return normalise(" ".join([patient.first_name, patient.last_name, patient.medical_record_number]))
