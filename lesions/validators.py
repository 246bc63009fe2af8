"""The rules of a record's text and dates, shared by every write path.

The models apply them (field validators and ``clean()``), so a form, a serializer and a
service never disagree: names without control or text-direction characters, record numbers
normalised before they are compared, notes of bounded length, dates in a plausible range.
"""

from __future__ import annotations

import datetime as dt
import unicodedata

from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.utils import timezone

EARLIEST_DATE = dt.date(1900, 1, 1)
NOTES_MAX_LENGTH = 10_000

# Characters that reorder how text is shown (the "Trojan source" controls): a name carrying them
# can display as something else than it is, in lists, the audit trail and reports.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Invisible in print, but not of the format/control categories removed below.
INVISIBLE = frozenset("\u034f\u115f\u1160\u3164\uffa0") | {chr(c) for c in range(0xFE00, 0xFE10)}


def refuse_control_characters(value: str) -> None:
    """A name or label (a patient's, a lesion's and its site detail, a device's): no text-direction
    controls (U+202E …) and no control characters (newline, tab …)."""
    for character in value:
        if character in BIDI_CONTROLS or unicodedata.category(character) == "Cc":
            raise ValidationError(
                "Names and labels cannot contain control or text-direction characters (found U+%(code)04X).",
                code="control_character",
                params={"code": ord(character)},
            )


notes_length = MaxLengthValidator(NOTES_MAX_LENGTH)


def normalise_record_number(value: str) -> str:
    """A medical record number as stored and compared: NFKC, invisible characters removed, trimmed.

    NFKC folds look-alike forms (full-width ``ＨＶ－２００１``, ligatures) into plain ones; format
    characters (zero-width spaces, joiners, BOM, soft hyphen, text-direction controls), control
    characters and other invisible fillers are removed. Case is kept as typed: uniqueness per
    clinic ignores it.
    """
    text = unicodedata.normalize("NFKC", value)
    text = "".join(c for c in text if c not in INVISIBLE and unicodedata.category(c) not in {"Cf", "Cc"})
    return text.strip()


def date_errors(value: dt.date | None, what: str, *, not_before: dt.date | None = None, before: str = "") -> list[str]:
    """Why ``value`` is not a plausible date for ``what`` (empty when it is)."""
    if value is None:
        return []
    if value > timezone.localdate():
        return [f"The {what} cannot be in the future."]
    if value < EARLIEST_DATE:
        return [f"The {what} cannot be before {EARLIEST_DATE:%Y}."]
    if not_before is not None and value < not_before:
        return [f"The {what} cannot be before {before}."]
    return []
