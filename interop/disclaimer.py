"""The decision-support disclaimer as plain text, from its one place (templates/snippets/disclaimer.html)."""

from __future__ import annotations

import html
from functools import cache

from django.template.loader import render_to_string
from django.utils.html import strip_tags


@cache
def disclaimer_text() -> str:
    """The wording the pages show, without its markup (for FHIR ``conclusion`` and the PDF)."""
    return " ".join(html.unescape(strip_tags(render_to_string("snippets/disclaimer.html"))).split())
