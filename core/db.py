"""A cursor for the few fixed SQL statements every request or posting runs.

On PostgreSQL the settings bind parameters on the server (Django's ``server_side_binding`` option) and give psycopg
a ``prepare_threshold``: a statement a connection has run that many times is prepared there, so PostgreSQL parses
and plans it once per connection instead of on every call. For the hottest fixed statements (the app credential
lookup, the ledger posting) planning costs as much as running them. Nothing here is needed for that: any cursor of
the connection prepares its repeated statements. ``prepared_cursor()`` names the intent where such a statement is
written by hand, and is ``connection.cursor()``, with all of Django's wrappers (query logging and counting,
``execute_wrapper`` hooks, error translation, the health check). ``DB_PREPARED_STATEMENTS=false`` (behind a pooler
that cannot carry prepared statements) prepares nothing; other databases get the same plain cursor.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import connections

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.backends.utils import CursorWrapper


def prepared_cursor(using: str = "default", *, connection: BaseDatabaseWrapper | None = None) -> CursorWrapper:
    """A cursor (use it as a context manager) on ``connection`` if given (a caller that already looked it up), else
    on ``connections[using]``; its statements are prepared once a connection repeated them (see the module)."""
    return (connection or connections[using]).cursor()
