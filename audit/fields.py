"""JSON kept as text in its canonical spelling: the catalog's TEXT columns, and the exact bytes the chain hashes."""
from __future__ import annotations

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from core.integrity.canonical import canonical_json


class CanonicalJSONField(models.TextField):
    """Python values in, Python values out; stored as canonical JSON text (``core.integrity.canonical``).

    Storing one spelling means the database holds exactly what was hashed (no engine re-spells numbers or keys), and
    verification embeds the stored text without parsing it. Lookups compare whole values (``metadata={"a": 1}``);
    there are no key lookups into the JSON.
    """

    description = "JSON stored as canonical text"

    def from_db_value(self, value: str | None, expression, connection) -> Any:
        return None if value is None else json.loads(value)

    def to_python(self, value: Any) -> Any:
        return value

    def get_prep_value(self, value: Any) -> str | None:
        if value is None:
            return None
        try:
            return canonical_json(value)
        except TypeError:  # dates, UUIDs, decimals: spelled as DjangoJSONEncoder spells them
            return canonical_json(json.loads(json.dumps(value, cls=DjangoJSONEncoder)))

    def value_to_string(self, obj: models.Model) -> str | None:
        return self.get_prep_value(self.value_from_object(obj))
