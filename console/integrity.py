"""One command that proves integrity: every verifier of every app, run together, with a stored report.

Each app registers the verifiers of its own records in the integrity registry (``core.integrity.registry``) when it
is ready: ``audit`` its chain and the append-only guards, ``governance`` the decision and lifecycle chains,
``billing`` the ledger, ``ads`` the spend totals, and the console the cross-verification of each table against its
audit events (``console.evidence``). Every one returns the registry's ``Check``. ``run_all()`` runs them, times
each, and stores the outcome as an ``integrity_reports`` row (append-only). ``python manage.py verify_all`` prints
it and exits 0 or 1; Celery beat runs it every ``INTEGRITY_VERIFY_SECONDS`` (daily) and a failure activates the kill
switch named by ``INTEGRITY_FAILURE_KILL_SWITCH`` (``all`` by default: money does not move while its records cannot
be proven) with the reason "integrity check failed: …", shown on the console's dashboard.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.integrity import registry
from core.integrity.registry import Report

logger = logging.getLogger("console.integrity")


def run_all(*, trigger: str = "command", only: list[str] | None = None, store: bool = True, alert: bool = False,
            progress: Callable[[str, int], None] | None = None) -> Report:
    """Run every registered verifier (or those named in ``only``); store the report; on ``alert`` and a failure,
    raise the integrity alert (the kill switch)."""
    started_at = timezone.now()
    results = registry.run(only=only, progress=progress)
    report = Report(ok=all(r.ok for r in results), results=results, started_at=started_at,
                    finished_at=timezone.now(), trigger=trigger)
    if store:
        report.id = _store(report).pk
    if alert and not report.ok:
        integrity_alert(report)
    return report


def _store(report: Report):
    from audit.context import scope
    from audit.rows import row_digest
    from audit.services import audit_record
    from infrastructure import events
    from infrastructure.models import IntegrityReport

    with transaction.atomic(), scope(actor_type="system", actor_id=None, app_id=None):
        row = IntegrityReport.objects.create(
            ok=report.ok, trigger=report.trigger, started_at=report.started_at, finished_at=report.finished_at,
            results=[r.as_dict() for r in report.results], summary=report.summary()[:2000])
        audit_record(events.INTEGRITY_CHECK_PASSED if report.ok else events.INTEGRITY_CHECK_FAILED,
                     action="verify", target_type="integrity_report", target_id=row.pk,
                     after={"ok": report.ok, "verifiers": {r.name: {"ok": r.ok, "checked": r.checked,
                                                                     "problem_count": r.problem_count}
                                                            for r in report.results}},
                     metadata={"trigger": report.trigger, "row_digest": row_digest(row)}, actor_type="system")
    return row


def latest_report():
    """The most recent stored report (an ``IntegrityReport`` row) or ``None``."""
    from infrastructure.models import IntegrityReport

    return IntegrityReport.objects.order_by("-started_at").first()


def integrity_alert(report: Report) -> None:
    """A failed integrity check stops what moves money until a person looks: the kill switch named by
    ``INTEGRITY_FAILURE_KILL_SWITCH`` (``all`` by default; empty: the report and the log only)."""
    scope_name = getattr(settings, "INTEGRITY_FAILURE_KILL_SWITCH", "all")
    logger.error("%s", report.summary())
    if not scope_name:
        return
    from audit.context import scope
    from infrastructure.services.killswitches import killswitch_activate

    with scope(actor_type="system", actor_id=None, app_id=None):
        # The switch's reason is short (its history keeps 100 characters): the verifiers that failed; the report
        # (console, Infrastructure > Integrity reports) holds the problems.
        names = ", ".join(r.name for r in report.failed)
        reason = f"integrity check failed: {names}"
        if len(reason) > 100:
            reason = reason[:99] + "…"
        killswitch_activate(scope_name, reason=reason, actor=None)
