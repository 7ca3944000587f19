"""The suite's database backends (``tests/settings.py`` picks them): the project's own, whose flush also empties the
append-only tables.

Transactional tests (``TransactionTestCase``, ``transactional_db``, the live server) end by flushing every table,
which the append-only triggers refuse. Only this flush steps around them: on PostgreSQL the flush's one transaction
skips ordinary triggers (``session_replication_role = replica``, as a superuser restoring a dump would); on SQLite
the triggers are dropped before the flush and installed again after it. Every other statement of the suite meets
the triggers as production does.
"""
