"""Whole model rows of a fixed one-to-one join, fetched with SQL written once.

Every app-authenticated request looks its credential up (with the app), and the commonest reads fetch one row
with its user. Through the ORM, compiling such a ``select_related`` query costs several times the database
round trip itself; here the SQL is built once per database vendor from the models' metadata, and the values go
through the same converters the ORM applies, so the instances are exactly what the ORM would return.
"""
from __future__ import annotations

from functools import cache
from typing import Any

from django.db import connections, models

from prostqs.db import prepared_cursor


class JoinedRows:
    """``SELECT`` the concrete columns of ``base`` (alias ``b``) and of each joined ``(alias, model, fk on base)``
    where each of the base's fields in ``where`` equals the value given for it."""

    def __init__(self, base: type[models.Model], joins: list[tuple[str, type[models.Model], str]],
                 where: list[str]) -> None:
        self.parts = [("b", base, None)] + [(alias, model, fk) for alias, model, fk in joins]
        self.where_fields = [base._meta.get_field(name) for name in where]

    @cache  # noqa: B019 - a handful of module-level instances, one entry per database alias
    def _plan(self, using: str) -> tuple[str, list[tuple[type[models.Model], list[str], list[tuple[Any, list]]]]]:
        connection = connections[using]
        qn = connection.ops.quote_name
        columns, plans, joins = [], [], []
        base_table = self.parts[0][1]._meta.db_table
        for alias, model, fk in self.parts:
            fields = model._meta.concrete_fields
            converters = []
            for field in fields:
                col = field.get_col(alias)
                converters.append((col, connection.ops.get_db_converters(col) + col.get_db_converters(connection)))
                columns.append(f"{alias}.{qn(field.column)}")
            plans.append((model, [f.attname for f in fields], converters))
            if fk is not None:
                column = self.parts[0][1]._meta.get_field(fk).column
                joins.append(f"JOIN {qn(model._meta.db_table)} {alias} "
                             f"ON {alias}.{qn(model._meta.pk.column)} = b.{qn(column)}")
        # Identifiers come from the models and are quoted; values only ever travel as parameters.
        where = " AND ".join(f"b.{qn(field.column)} = %s" for field in self.where_fields)
        sql = f"SELECT {', '.join(columns)} FROM {qn(base_table)} b {' '.join(joins)} WHERE {where}"  # noqa: S608
        return sql, plans

    def first(self, values: list[Any], *, using: str = "default") -> list[models.Model] | None:
        """The instances of the first matching row (base first, then each join), or None."""
        sql, plans = self._plan(using)
        connection = connections[using]
        params = [field.get_db_prep_value(value, connection) for field, value in zip(self.where_fields, values,
                                                                                       strict=True)]
        with prepared_cursor(using) as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        instances, offset = [], 0
        for model, attnames, converters in plans:
            converted = []
            for value, (col, funcs) in zip(row[offset:offset + len(attnames)], converters, strict=True):
                for func in funcs:
                    value = func(value, col, connection)
                converted.append(value)
            instances.append(model.from_db(using, attnames, converted))
            offset += len(attnames)
        return instances
