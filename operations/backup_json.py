"""Django's JSON serialisation with full-precision times, for backups (``operations.backup``).

``DjangoJSONEncoder`` cuts datetimes and times to milliseconds (ECMA-262's format); a backup must
give every row back as it was, so this encoder keeps the microseconds. Loading needs nothing of
its own: Django's JSON deserializer reads both forms.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.serializers.json import Deserializer, DjangoJSONEncoder
from django.core.serializers.json import Serializer as JSONSerializer

FORMAT = "json-exact"


class ExactJSONEncoder(DjangoJSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, dt.datetime | dt.time):
            return o.isoformat()
        return super().default(o)


class Serializer(JSONSerializer):
    def _init_options(self) -> None:
        super()._init_options()  # type: ignore[misc]  # django-stubs omit the private _init_options
        self.json_kwargs["cls"] = ExactJSONEncoder


__all__ = ["FORMAT", "Deserializer", "Serializer"]
