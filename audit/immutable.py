"""Model and queryset guards for append-only tables: a clear error before the database refuses."""
from __future__ import annotations

from django.db import models


class AppendOnlyViolation(Exception):
    """An UPDATE or DELETE was attempted on an append-only table."""


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyViolation(f"{self.model._meta.db_table} is append-only: update refused")

    def delete(self):
        raise AppendOnlyViolation(f"{self.model._meta.db_table} is append-only: delete refused")

    def bulk_update(self, objs, fields, batch_size=None):
        raise AppendOnlyViolation(f"{self.model._meta.db_table} is append-only: update refused")

    def update_or_create(self, *args, **kwargs):
        raise AppendOnlyViolation(f"{self.model._meta.db_table} is append-only: update refused")


class AppendOnlyModel(models.Model):
    """Rows are inserted once and never changed. Pair with the ``AppendOnly`` migration operation."""

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyViolation(f"{self._meta.db_table} is append-only: update refused")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyViolation(f"{self._meta.db_table} is append-only: delete refused")


def append_only_tables() -> list[str]:
    from django.apps import apps

    return [m._meta.db_table for m in apps.get_models() if issubclass(m, AppendOnlyModel)]
