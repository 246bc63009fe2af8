"""The API's JSON parser: DRF's, refusing bodies nested deeper than ``MAX_JSON_DEPTH`` levels.

Python's ``json`` recurses once per level: a body of a few thousand ``[`` ends in a
``RecursionError`` (a 500) before any view or permission sees it, and a body just under
that limit would recurse again in whatever walks it next (serializers, the FHIR model
library, error messages). No record or resource here nests more than a dozen levels.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_JSON_DEPTH = 64
TOO_DEEP = f"JSON parse error - the body is nested more than {MAX_JSON_DEPTH} levels deep."


def json_depth_exceeds(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether arrays and objects in ``value`` nest more than ``limit`` levels (``[]`` is one level).

    A loop over a stack, not recursion: it must not fail on the very bodies it is there to refuse.
    """
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


class DepthLimitedJSONParser(JSONParser):
    """DRF's JSON parser with a nesting limit: a deeper body is a 400 (ParseError), never a 500."""

    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:  # far deeper than the limit: json gave up first
            raise ParseError(TOO_DEEP) from exc
        if json_depth_exceeds(data):
            raise ParseError(TOO_DEEP)
        return data
