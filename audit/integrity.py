"""The audit app's integrity verifiers (registered when the app is ready): the audit chain with its signed
checkpoints, and the database's guards of every append-only table."""
from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import connection

from core.integrity.registry import Check, register


@register("audit_chain")
def verify_audit_chain(progress=None) -> Check:
    """Every audit event's hash and link from sequence 1, and every signed checkpoint (when the directory
    exists). Staged events are chained first, so the check covers everything committed."""
    from audit.services import audit_sequence
    from audit.verification import chain_verify

    audit_sequence()
    directory = Path(settings.AUDIT_CHECKPOINT_DIR)
    result = chain_verify(checkpoints_dir=directory if directory.is_dir() else None,
                          progress=(lambda done, total: progress(done)) if progress else None)
    if not directory.is_dir():
        result.notes.append("no checkpoint directory yet: links and hashes checked, no signed checkpoint")
    else:
        result.notes.append(f"{result.checkpoints} signed checkpoints checked")
    return result


# PostgreSQL: the roles other than the table's owner that may change or empty it (PUBLIC shows as "public").
_PG_WRITERS = """
    SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'public' ELSE a.grantee::regrole::text END, a.privilege_type
    FROM pg_class c, aclexplode(c.relacl) a
    WHERE c.oid = to_regclass(%s) AND a.grantee <> c.relowner AND a.privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE')
    ORDER BY 1, 2
"""


@register("append_only_triggers")
def verify_append_only_triggers() -> Check:
    """Every append-only table still has the database triggers that refuse UPDATE and DELETE (and TRUNCATE), and
    on PostgreSQL no role but the table's owner holds UPDATE, DELETE or TRUNCATE on it (see ``db_roles``)."""
    from audit.immutable import append_only_tables

    check = Check()
    with connection.cursor() as cursor:
        for table in append_only_tables():
            if connection.vendor == "postgresql":
                cursor.execute(_PG_WRITERS, [f'"{table}"'])
                granted: dict[str, list[str]] = {}
                for role, privilege in cursor.fetchall():
                    granted.setdefault(role, []).append(privilege)
                for role, privileges in granted.items():
                    check.fail(f"table {table}", f"role {role} holds {', '.join(privileges)} (only the owner "
                                                    "may; run db_roles)")
            check.checked += 1
            if connection.vendor == "postgresql":
                cursor.execute(
                    "SELECT tgname FROM pg_trigger WHERE tgrelid = to_regclass(%s) AND tgenabled <> 'D' "
                    "AND NOT tgisinternal", [f'"{table}"'])
                expected = {f"{table}_append_only", f"{table}_no_truncate"}
            else:
                cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s", [table])
                expected = {f"{table}_no_update", f"{table}_no_delete"}
            present = {row[0] for row in cursor.fetchall()}
            missing = sorted(expected - present)
            if missing:
                check.fail(f"table {table}", f"trigger(s) {', '.join(missing)} missing or disabled")
    return check
