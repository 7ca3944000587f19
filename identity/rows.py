"""Whole model rows of a fixed join, fetched with SQL written once.

Every app-authenticated request looks its credential up (with the app), and the commonest reads fetch one row
with its user. Through the ORM, compiling such a ``select_related`` query costs several times the database
round trip itself; here the SQL is built once per database vendor from the models' metadata, the values go through
the same converters the ORM applies (each field's ``from_db_value`` and the backend's), and the instances are built
by ``Model.from_db``, as the ORM builds them. On PostgreSQL the statement is prepared once per connection (see
``core.db``).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from django.db import connections, models

from core.db import prepared_cursor


def relate(instance: models.Model, name: str, related: models.Model) -> None:
    """``instance.<name> = related`` for a foreign key whose id column already holds ``related``'s key (a row
    joined on it): ``related`` is then cached on ``instance`` as its related object."""
    setattr(instance, name, related)


@dataclass(frozen=True)
class OptionalJoin:
    """A ``LEFT JOIN`` of ``model`` (alias ``alias``) on each of its fields in ``on`` equalling a field of an
    earlier alias (``{"app": ("b", "app")}``: ``alias.app_id = b.app_id``), and each field in ``match`` equalling a
    value given to ``first``. Its instance is None where nothing matched."""

    alias: str
    model: type[models.Model]
    on: dict[str, tuple[str, str]]
    match: tuple[str, ...] = ()


class JoinedRows:
    """``SELECT`` the concrete columns of ``base`` (alias ``b``), of each joined ``(alias, model, fk on base)`` and
    of each ``OptionalJoin``, where each of the base's fields in ``where`` equals the value given for it."""

    def __init__(self, base: type[models.Model], joins: list[tuple[str, type[models.Model], str]],
                 where: list[str], optional: list[OptionalJoin] = ()) -> None:
        self.parts = [("b", base)] + [(alias, model) for alias, model, _fk in joins] + [
            (join.alias, join.model) for join in optional]
        self.joins = joins
        self.optional = list(optional)
        self.where_fields = [base._meta.get_field(name) for name in where]
        # Values are given where-fields first, then each optional join's match fields; the SQL has the joins'
        # placeholders first.
        self.match_fields = [join.model._meta.get_field(name) for join in self.optional for name in join.match]

    @cache  # noqa: B019 - a handful of module-level instances, one entry per database alias
    def _plan(self, using: str) -> tuple[str, list[tuple[type[models.Model], list[str], list[tuple[int, Any, list]],
                                                          int]]]:
        connection = connections[using]
        qn = connection.ops.quote_name
        models_by_alias = dict(self.parts)
        columns, plans, joins = [], [], []
        for alias, model in self.parts:
            fields = model._meta.concrete_fields
            converters = []  # (position, column, converter functions) of the columns that have any
            for position, field in enumerate(fields):
                col = field.get_col(alias)
                funcs = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
                if funcs:
                    converters.append((position, col, funcs))
                columns.append(f"{alias}.{qn(field.column)}")
            attnames = [f.attname for f in fields]
            plans.append((model, attnames, converters, fields.index(model._meta.pk)))
        base = self.parts[0][1]
        for alias, model, fk in self.joins:
            joins.append(f"JOIN {qn(model._meta.db_table)} {alias} "
                         f"ON {alias}.{qn(model._meta.pk.column)} = b.{qn(base._meta.get_field(fk).column)}")
        for join in self.optional:
            meta = join.model._meta
            conditions = [
                f"{join.alias}.{qn(meta.get_field(name).column)} = "
                f"{other}.{qn(models_by_alias[other]._meta.get_field(other_name).column)}"
                for name, (other, other_name) in join.on.items()]
            conditions += [f"{join.alias}.{qn(meta.get_field(name).column)} = %s" for name in join.match]
            joins.append(f"LEFT JOIN {qn(meta.db_table)} {join.alias} ON {' AND '.join(conditions)}")
        # Identifiers come from the models and are quoted; values only ever travel as parameters.
        where = " AND ".join(f"b.{qn(field.column)} = %s" for field in self.where_fields)
        sql = f"SELECT {', '.join(columns)} FROM {qn(base._meta.db_table)} b {' '.join(joins)} WHERE {where}"  # noqa: S608
        return sql, plans

    def first(self, values: list[Any], *, using: str = "default") -> list[models.Model | None] | None:
        """The instances of the first matching row (base first, then each join; None for an optional join that
        matched nothing), or None. ``values``: one for each ``where`` field, then each optional join's ``match``."""
        sql, plans = self._plan(using)
        connection = connections[using]
        fields = self.where_fields + self.match_fields
        params = [field.get_db_prep_value(value, connection) for field, value in zip(fields, values, strict=True)]
        split = len(self.where_fields)
        with prepared_cursor(connection=connection) as cursor:
            cursor.execute(sql, params[split:] + params[:split])
            row = cursor.fetchone()
        if row is None:
            return None
        instances, offset = [], 0
        for model, attnames, converters, pk_index in plans:
            row_values = list(row[offset:offset + len(attnames)])
            offset += len(attnames)
            if row_values[pk_index] is None:  # an optional join that matched nothing
                instances.append(None)
                continue
            # As the ORM's compiler: each converter of a column, in order, on its value (None included).
            for position, col, funcs in converters:
                value = row_values[position]
                for func in funcs:
                    value = func(value, col, connection)
                row_values[position] = value
            instances.append(model.from_db(using, attnames, row_values))
        return instances
