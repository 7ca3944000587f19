"""One command that proves integrity: every verifier of every app, run together, with a stored report.

A verifier is a function registered under a name (``@register("name")``) that takes ``progress`` (or nothing)
and returns an object with ``ok``, ``checked`` and ``problems`` (a :class:`Check`, or any object with those
attributes, such as the audit, ledger and approval verifiers' own results). ``run_all()`` runs each one, times it,
and stores the outcome as an ``integrity_reports`` row (append-only). ``python manage.py verify_all`` prints it and
exits 0 or 1; Celery beat runs it every ``INTEGRITY_VERIFY_SECONDS`` (daily) and a failure activates the kill
switch named by ``INTEGRITY_FAILURE_KILL_SWITCH`` (``all`` by default: money does not move while its records
cannot be proven) with the reason "integrity check failed: …", shown on the console's dashboard.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

logger = logging.getLogger("console.integrity")

MAX_PROBLEMS_KEPT = 20


@dataclass
class Check:
    """What a verifier returns: how many things it checked, and what was wrong (empty: all held)."""

    checked: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class VerifierResult:
    name: str
    ok: bool
    checked: int
    problems: list[str]
    problem_count: int
    seconds: float
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "checked": self.checked, "problems": self.problems,
                "problem_count": self.problem_count, "seconds": round(self.seconds, 4), "notes": self.notes}


@dataclass
class Report:
    ok: bool
    results: list[VerifierResult]
    started_at: Any
    finished_at: Any
    trigger: str
    id: Any = None

    @property
    def failed(self) -> list[VerifierResult]:
        return [r for r in self.results if not r.ok]

    def summary(self) -> str:
        if self.ok:
            return "integrity intact: " + ", ".join(f"{r.name} {r.checked}" for r in self.results)
        return "integrity check failed: " + "; ".join(
            f"{r.name}: {r.problems[0] if r.problems else 'failed'}" for r in self.failed)

    def as_dict(self) -> dict[str, Any]:
        return {"id": str(self.id) if self.id else None, "ok": self.ok, "trigger": self.trigger,
                "started_at": self.started_at.isoformat(), "finished_at": self.finished_at.isoformat(),
                "summary": self.summary(), "verifiers": [r.as_dict() for r in self.results]}


_VERIFIERS: dict[str, Callable[..., Any]] = {}


def register(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a verifier under ``name`` (decorator). A name registered twice fails loudly."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        if name in _VERIFIERS and _VERIFIERS[name] is not func:
            raise ValueError(f"integrity verifier {name!r} is already registered")
        _VERIFIERS[name] = func
        return func

    return decorate


def verifiers() -> dict[str, Callable[..., Any]]:
    _register_optional()
    return dict(_VERIFIERS)


def _call(func: Callable[..., Any], progress: Callable[[str, int], None] | None, name: str) -> Any:
    import inspect

    if progress is not None and "progress" in inspect.signature(func).parameters:
        return func(progress=lambda *args: progress(name, int(args[0]) if args else 0))
    return func()


def _problem_text(problem: Any) -> str:
    if isinstance(problem, dict):
        return ", ".join(f"{k}={v}" for k, v in problem.items())
    return str(problem)


def run_one(name: str, func: Callable[..., Any], progress=None) -> VerifierResult:
    started = time.perf_counter()
    try:
        outcome = _call(func, progress, name)
        problems = [_problem_text(p) for p in (getattr(outcome, "problems", None) or [])]
        ok = bool(getattr(outcome, "ok", not problems)) and not problems
        if not ok and not problems:
            problems = [str(getattr(outcome, "summary", lambda: "failed")())]
        checked = int(getattr(outcome, "checked", 0) or 0)
        notes = list(getattr(outcome, "notes", []) or [])
    except Exception as exc:
        logger.exception("integrity verifier %s raised", name)
        ok, checked, problems, notes = False, 0, [f"the verifier could not run: {type(exc).__name__}: {exc}"], []
    return VerifierResult(name=name, ok=ok, checked=checked, problems=problems[:MAX_PROBLEMS_KEPT],
                          problem_count=len(problems), seconds=time.perf_counter() - started, notes=notes)


def run_all(*, trigger: str = "command", only: list[str] | None = None, store: bool = True, alert: bool = False,
            progress: Callable[[str, int], None] | None = None) -> Report:
    """Run every registered verifier (or those named in ``only``); store the report; on ``alert`` and a failure,
    raise the integrity alert (the kill switch)."""
    started_at = timezone.now()
    chosen = verifiers()
    if only:
        unknown = sorted(set(only) - set(chosen))
        if unknown:
            raise ValueError(f"unknown verifiers: {', '.join(unknown)} (known: {', '.join(sorted(chosen))})")
        chosen = {name: chosen[name] for name in only}
    results = [run_one(name, func, progress) for name, func in chosen.items()]
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


# ---- the verifiers -------------------------------------------------------------------------------------------


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
    check = Check(checked=result.checked, notes=list(result.notes))
    if not directory.is_dir():
        check.notes.append("no checkpoint directory yet: links and hashes checked, no signed checkpoint")
    else:
        check.notes.append(f"{result.checkpoints} signed checkpoints checked")
    if result.problem is not None:
        check.problems.append(str(result.problem))
    return check


@register("ledger")
def verify_ledger(progress=None) -> Check:
    """Every billing account: balance == credits - debits, an unbroken running sum, last balance_after."""
    from billing.verification import ledger_check

    report = ledger_check(stop_at_first=False, progress=(lambda a, e: progress(a)) if progress else None)
    return Check(checked=report.accounts, problems=[str(p) for p in report.problems],
                 notes=[f"{report.entries} ledger entries"])


@register("approval_decisions")
def verify_approval_decisions() -> Check:
    """Every approval decision's hash and each request's chain of decisions."""
    from governance.services.approvals import approval_decisions_verify

    report = approval_decisions_verify()
    return Check(checked=report.checked, problems=[
        f"decision {p['decision_id']} of request {p['request_id']}: {p['problem']}" for p in report.problems])


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
                    check.problems.append(f"table {table}: role {role} holds {', '.join(privileges)} (only the "
                                          "owner may; run db_roles)")
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
                check.problems.append(f"table {table}: trigger(s) {', '.join(missing)} missing or disabled")
    return check


@register("ad_spend_totals")
def verify_ad_spend_totals() -> Check:
    """Every ad budget's ``amount_spent`` and every campaign's ``total_spent`` equal the sum of their applied
    spend events, and every applied spend event has a ledger debit of the same amount."""
    from ads.models import AdBudget, AdCampaign, AdSpendEvent

    check = Check()
    applied = Q(spend_events__status=AdSpendEvent.Status.APPLIED)
    for model, column in ((AdBudget, "amount_spent"), (AdCampaign, "total_spent")):
        rows = (model.objects.annotate(applied_sum=Sum("spend_events__amount", filter=applied))
                .values_list("pk", column, "applied_sum"))
        for pk, stored, summed in rows.iterator(chunk_size=2000):
            check.checked += 1
            if stored != (summed or 0):
                check.problems.append(f"{model._meta.db_table} {pk}: {column} {stored} but applied spends add up "
                                      f"to {summed or 0}")
    bad = (AdSpendEvent.objects.filter(status=AdSpendEvent.Status.APPLIED)
           .filter(Q(ledger_entry__isnull=True) | ~Q(ledger_entry__amount=F("amount"))
                   | ~Q(ledger_entry__type="debit")).values_list("pk", flat=True)[:MAX_PROBLEMS_KEPT])
    check.problems.extend(f"applied spend event {pk} has no ledger debit of its amount" for pk in bad)
    return check


def _register_optional() -> None:
    """Verifiers of apps that may be absent from this build: registered when their code is there; and the
    cross-verification of each table against its audit events (``console.evidence``), which needs the models."""
    if "evidence_ledger_entries" not in _VERIFIERS:
        from console import evidence

        for name, func in evidence.verifiers().items():
            register(name)(func)
    if "lifecycle_chains" in _VERIFIERS:
        return
    try:
        from memory.services import verify_lifecycle_chains
    except ImportError:
        return
    register("lifecycle_chains")(verify_lifecycle_chains)
