"""Cross-verification of the records against the audit log: every row has the audit event that recorded it, that
event says what the row holds, and every such event has its row.

The audit log is hash-chained and its head signed (``audit``); the tables it describes are not. A role that can
INSERT into ``ledger_entries`` (the application's own role can) could add a credit with a consistent
``balance_after`` and sequence: the ledger's own invariant would hold. Such a row has no audit event, because only
the services write both in one transaction. So for each table below, ``verify_all`` checks (each verifier returns the
integrity registry's ``Check``, ``core.integrity.registry``):

- each row has exactly one audit event of its kind (chained, or staged and not yet chained), whose recorded content
  matches the row, column by column for the money tables (``ledger_entries``, ``ad_spend_events``, ``payouts``,
  whose events have always recorded their columns) and through the row digest (``audit.rows``) or the row's own
  hash for the other append-only tables;
- each such event has its row (counted first; named only when the counts differ).

What older events do not record (a column recorded only since a later version, a row digest) is reported as a note
("unproven"), never as a problem. Each table is read in keyset batches by primary key, its events fetched per batch
through the ``(target_type, target_id)`` index, inside one REPEATABLE READ snapshot, after the sequencer has chained
what was staged; events still staged are read from ``audit_staging`` in the same snapshot (they commit with their row),
so a posting that commits during the check never fails it.

Payouts (a mutable row) are proven by the replay of their events, risk history by one digest per recomputation,
approval request parties by the list their request's event records: each has a verifier of its own below.

To cover a new column, add it to its table's ``expect`` function (and to the event that records it, listing the path
in ``recorded_since`` when older events lack it). To cover a new append-only table, add a ``RowEvidence`` to
``specs()`` (a test fails while an append-only table has none).
"""
from __future__ import annotations

import functools
import hashlib
import itertools
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from django.db import connection, models, transaction

from audit import chain, rows
from audit.models import AuditEvent, StagedEvent
from core.integrity.chain import CURRENT_VERSION, UnknownHashVersion, hash_version
from core.integrity.registry import Check, register

BATCH = 2000
MISSING = object()

# The event fields the checks read (the chained and the staged form share them).
_EVENT_FIELDS = ("type", "target_type", "target_id", "action", "before", "after", "metadata", "reason", "actor_id",
                 "app_id", "created_at")


@dataclass(frozen=True)
class Truncated:
    """The row holds the first ``length`` characters of what the event recorded."""

    value: str
    length: int

    def matches(self, recorded: Any) -> bool:
        return isinstance(recorded, str) and recorded[:self.length] == self.value

    def __repr__(self) -> str:
        return repr(self.value)


# ---- events -------------------------------------------------------------------------------------------------------


def _event(values: tuple, *, sequence: int | None, staged_id: int | None) -> dict[str, Any]:
    event = dict(zip(_EVENT_FIELDS, values, strict=True))
    for name in ("target_id", "actor_id", "app_id"):
        if event[name] is not None:
            event[name] = str(event[name])
    event["sequence"], event["staged_id"] = sequence, staged_id
    return event


def _version(recorded: Any) -> int:
    """The format of a recorded digest, to recompute it the same way (an unreadable one fails the comparison)."""
    try:
        return hash_version(recorded) if isinstance(recorded, str) else CURRENT_VERSION
    except UnknownHashVersion:
        return CURRENT_VERSION


def event_name(event: dict[str, Any]) -> str:
    if event["sequence"] is not None:
        return f"audit event {event['sequence']} ({event['type']})"
    return f"staged audit event {event['staged_id']} ({event['type']}, not yet chained)"


def _order(event: dict[str, Any]) -> tuple:
    """Chained events by sequence, then staged ones (they will be chained after every chained one) by staging id."""
    return (0, event["sequence"]) if event["sequence"] is not None else (1, event["staged_id"])


@functools.cache
def _split(path: str) -> tuple[str, str]:
    head, _dot, key = path.partition(".")
    return head, key


def value_at(event: dict[str, Any], path: str) -> Any:
    """``"action"``, ``"after.amount"``, ``"metadata.row_digest"``…: the recorded value, or ``MISSING``."""
    head, key = _split(path)
    value = event.get(head, MISSING)
    if not key or value is MISSING:
        return value
    return value.get(key, MISSING) if isinstance(value, dict) else MISSING


def chained_events(types: tuple[str, ...], *, target_type: str, target_ids) -> list[dict[str, Any]]:
    """The chained events of these types about these targets (ids, or a subquery of them; one indexed query)."""
    found = (AuditEvent.objects.filter(target_type=target_type, type__in=types, target_id__in=target_ids)
             .order_by().values_list("sequence", *_EVENT_FIELDS))
    return [_event(values[1:], sequence=values[0], staged_id=None) for values in found]


def staged_events(types: tuple[str, ...]) -> list[dict[str, Any]]:
    """Every staged event of these types. The sequencer drains the staging table continuously (and ``verify`` runs
    it first), so this is what committed in the last moments."""
    found = StagedEvent.objects.filter(type__in=types).order_by("id").values_list("id", *_EVENT_FIELDS)
    return [_event(values[1:], sequence=None, staged_id=values[0]) for values in found.iterator(chunk_size=BATCH)]


def iter_chained_events(types: tuple[str, ...]) -> Iterator[list[dict[str, Any]]]:
    """Every chained event of these types, in sequence order, in keyset batches."""
    last = 0
    while True:
        batch = [_event(values[1:], sequence=values[0], staged_id=None) for values in
                 AuditEvent.objects.filter(type__in=types, sequence__gt=last).order_by("sequence")
                 .values_list("sequence", *_EVENT_FIELDS)[:BATCH]]
        if not batch:
            return
        yield batch
        last = batch[-1]["sequence"]


def count_events(types: tuple[str, ...]) -> tuple[int, int]:
    return (AuditEvent.objects.filter(type__in=types).count(), StagedEvent.objects.filter(type__in=types).count())


@contextmanager
def snapshot() -> Iterator[None]:
    """Chain what is staged, then read everything in one snapshot (PostgreSQL: REPEATABLE READ, read only), so
    that rows and events committed during the check are seen together or not at all."""
    outermost = not connection.in_atomic_block
    if outermost:
        from audit.services import audit_sequence

        audit_sequence()
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def iter_rows(model: type[models.Model], fields: tuple[str, ...]
              ) -> Iterator[tuple[list[dict[str, Any]], models.QuerySet]]:
    """Every row of ``model`` (``pk`` and ``fields``), by primary key, in keyset batches: ``(rows, window)``, where
    ``window`` is the batch's query, for a subquery that selects what belongs to these rows (no list of ids travels
    to the database and back)."""
    last = None
    while True:
        window = model._base_manager.order_by("pk")
        if last is not None:
            window = window.filter(pk__gt=last)
        batch = list(window.values("pk", *fields)[:BATCH])
        if not batch:
            return
        yield batch, window
        last = batch[-1]["pk"]


# ---- rows against the event that recorded them -------------------------------------------------------------------


@dataclass(frozen=True)
class RowEvidence:
    """How one table's rows are proven by the audit events that recorded them.

    ``expect(row)`` maps event paths (``"action"``, ``"after.amount"``, ``"metadata.sequence"``…) to what the event
    must hold for this row (a value, or ``Truncated``). An event is about a row when its ``target_id`` is the row's
    ``target_field`` and, where several rows share a target, when its ``discriminator`` path holds the row's field.
    ``recorded_since``: paths older events lack (reported as unproven). ``digest``: new events carry
    ``metadata.row_digest`` (``audit.rows``). ``row_check(row)``: a problem found in the row alone, or None.
    """

    model: type[models.Model]
    event_types: tuple[str, ...]
    target_type: str
    fields: tuple[str, ...]
    expect: Callable[[dict[str, Any]], dict[str, Any]]
    target_field: str = "pk"
    discriminator: tuple[str, str] | None = None
    recorded_since: frozenset[str] = frozenset()
    digest: bool = False
    row_check: Callable[[dict[str, Any]], str | None] | None = None
    describe: Callable[[dict[str, Any]], str] | None = None

    @property
    def table(self) -> str:
        return self.model._meta.db_table

    def name_row(self, row: dict[str, Any]) -> str:
        return self.describe(row) if self.describe else f"{self.table} {row['pk']}"

    def row_key(self, row: dict[str, Any]) -> tuple[str, str]:
        extra = "" if self.discriminator is None else str(row[self.discriminator[1]])
        return str(row[self.target_field]), extra

    def event_key(self, event: dict[str, Any]) -> tuple[str, str]:
        extra = "" if self.discriminator is None else str(value_at(event, self.discriminator[0]))
        return str(event["target_id"]), extra

    def read_fields(self) -> tuple[str, ...]:
        names = list(self.fields)
        if self.digest:
            names += [f.attname for f in self.model._meta.concrete_fields]
        if self.target_field != "pk":
            names.append(self.target_field)
        if self.discriminator is not None:
            names.append(self.discriminator[1])
        return tuple(dict.fromkeys(n for n in names if n != "pk"))


def _compare(spec: RowEvidence, row: dict[str, Any], event: dict[str, Any], result: Check,
             unproven: Counter) -> None:
    where = spec.name_row(row)
    for path, wanted in spec.expect(row).items():
        recorded = value_at(event, path)
        if recorded is MISSING:
            if path in spec.recorded_since:
                unproven[path] += 1
            else:
                result.fail(where, f"its {event_name(event)} does not record {path}")
            continue
        same = wanted.matches(recorded) if isinstance(wanted, Truncated) else recorded == wanted
        if not same:
            result.fail(where, f"{path} is {wanted!r} in the row but {recorded!r} in its {event_name(event)}")
    if spec.digest:
        _compare_digest(spec, row, event, result, unproven)


def _compare_digest(spec: RowEvidence, row: dict[str, Any], event: dict[str, Any], result: Check,
                    unproven: Counter) -> None:
    recorded = value_at(event, "metadata.row_digest")
    if recorded is MISSING:
        unproven["row digest"] += 1
        return
    where = spec.name_row(row)
    columns = recorded.get("columns") if isinstance(recorded, dict) else None
    if not isinstance(columns, list) or not isinstance(recorded.get("sha256"), str):
        result.fail(where, f"its {event_name(event)} holds a malformed row digest")
        return
    unknown = rows.unknown_columns(spec.model, columns)
    if unknown:
        result.fail(where, f"its {event_name(event)} digests column(s) {', '.join(unknown)}, which the table "
                           "does not have")
        return
    by_column = {f.column: f.attname for f in spec.model._meta.concrete_fields}
    content = {column: row[by_column[column]] for column in columns}
    if rows.digest_of(content, _version(recorded["sha256"])) != recorded["sha256"]:
        result.fail(where, f"the row no longer matches the digest recorded by its {event_name(event)} "
                           "(changed after it was written)")
    left_out = set(by_column) - set(columns)
    if left_out:
        unproven["column(s) " + ", ".join(sorted(left_out))] += 1


def verify_rows(spec: RowEvidence) -> Check:
    """Every row of ``spec``'s table against its audit event, and every such event against its row."""
    result = Check()
    unproven: Counter = Counter()
    with snapshot():
        staged: dict[tuple[str, str], list[dict]] = defaultdict(list)
        for event in staged_events(spec.event_types):
            staged[spec.event_key(event)].append(event)
        matched = staged_matched = 0
        fields = spec.read_fields()
        for batch, window in iter_rows(spec.model, fields):
            chained: dict[tuple[str, str], list[dict]] = defaultdict(list)
            targets = window.values(spec.target_field)[:BATCH]
            for event in chained_events(spec.event_types, target_type=spec.target_type, target_ids=targets):
                chained[spec.event_key(event)].append(event)
            for row in batch:
                result.checked += 1
                key = spec.row_key(row)
                found = chained.get(key, []) + staged.get(key, [])
                matched += len(found)
                staged_matched += len(staged.get(key, []))
                if spec.row_check is not None:
                    problem = spec.row_check(row)
                    if problem:
                        result.fail(spec.name_row(row), f"{problem}")
                if not found:
                    result.fail(spec.name_row(row), f"no {' / '.join(spec.event_types)} audit event records "
                                                    "it (written behind the application's back)")
                    continue
                if len(found) > 1:
                    result.fail(spec.name_row(row), f"recorded by {len(found)} audit events "
                                                    f"({', '.join(event_name(e) for e in sorted(found, key=_order))})")
                    continue
                _compare(spec, row, found[0], result, unproven)
        in_chain, in_staging = count_events(spec.event_types)
        if in_chain + in_staging != matched:
            _orphans(spec, staged, result)
    result.notes.append(f"{result.checked} rows, {in_chain + in_staging} audit events"
                        + (f" ({staged_matched} staged, not yet chained)" if staged_matched else ""))
    for what, count in sorted(unproven.items()):
        result.notes.append(f"{count} rows predate the recording of {what} in their event: unproven for those rows")
    return result.finish()


def _orphans(spec: RowEvidence, staged: dict[tuple[str, str], list[dict]], result: Check) -> None:
    """Name the events whose row does not exist (the counts said some do not)."""
    def batches() -> Iterator[list[dict]]:
        yield from iter_chained_events(spec.event_types)
        every = [e for events in staged.values() for e in events]
        for start in range(0, len(every), BATCH):
            yield every[start:start + BATCH]

    target_field = "pk" if spec.target_field == "pk" else spec.target_field
    for batch in batches():
        keys = {spec.event_key(event) for event in batch}
        lookup = {f"{target_field}__in": [key[0] for key in keys]}
        names = [target_field] + ([spec.discriminator[1]] if spec.discriminator else [])
        present = set()
        for values in spec.model._base_manager.filter(**lookup).values_list(*names):
            present.add((str(values[0]), str(values[1]) if spec.discriminator else ""))
        for event in batch:
            if spec.event_key(event) not in present or event["target_type"] != spec.target_type:
                what = f"{spec.table} {event['target_id']}"
                if spec.discriminator:
                    what += f" ({spec.discriminator[0]} {value_at(event, spec.discriminator[0])})"
                result.fail(f"{event_name(event)} records {what}, which does not exist")


# ---- the tables ---------------------------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _ledger_expect(row: dict[str, Any]) -> dict[str, Any]:
    signed = row["amount"] if row["type"] == "credit" else -row["amount"]
    return {
        "action": row["type"],
        "metadata.account_id": str(row["account_id"]),
        "metadata.amount": row["amount"],
        "metadata.sequence": row["sequence"],
        "metadata.reference_id": row["reference_id"],
        "metadata.corrects": _text(row["corrects_id"]),
        "before.balance": row["balance_after"] - signed,
        "after.balance": row["balance_after"],
        "metadata.description": row["description"],
        "metadata.created_at": chain.format_time(row["created_at"]),
        # Its tenant_balance_after is the running sum of the tenant's entries in the account, which the ledger
        # verifier checks over the entries proven here. Entries written before the tenant was recorded had their
        # tenant named by a migration: unproven.
        "metadata.tenant_id": _text(row["tenant_id"]),
    }


def _spend_expect(row: dict[str, Any]) -> dict[str, Any]:
    expected = {
        "action": "spend",
        "after.amount": row["amount"], "after.quantity": row["quantity"], "after.unit": row["unit"],
        "metadata.campaign_id": str(row["campaign_id"]), "metadata.budget_id": str(row["budget_id"]),
        "metadata.tenant_id": str(row["tenant_id"]), "metadata.idempotency_key": row["idempotency_key"],
        "metadata.created_at": chain.format_time(row["created_at"]),
    }
    if row["status"] == "applied":
        expected.update({"type": "AD_SPEND_APPLIED", "after.ledger_entry_id": _text(row["ledger_entry_id"])})
    else:
        expected.update({"type": "AD_SPEND_REFUSED", "after.status": row["status"], "reason": row["failure_reason"],
                         "metadata.message": Truncated(row["failure_message"], 2000)})
    return expected


def _spend_row_check(row: dict[str, Any]) -> str | None:
    if row["status"] == "applied" and (row["failure_reason"] or row["failure_message"]):
        return "an applied spend carries a failure reason"
    if row["status"] not in ("applied", "failed"):
        return f"status {row['status']!r}: a spend is stored applied or failed, never in between"
    return None


def _memory_expect(row: dict[str, Any]) -> dict[str, Any]:
    return {"action": "suggest", "actor_id": str(row["observer_id"]), "after.agent": row["agent_name"],
            "after.confidence": row["confidence"], "after.snapshot_hash": row["snapshot_hash"]}


def _memory_row_check(row: dict[str, Any]) -> str | None:
    if hashlib.sha256(row["snapshot"].encode()).hexdigest() != row["snapshot_hash"]:
        return "the snapshot no longer hashes to its snapshot_hash"
    return None


def _human_decision_expect(row: dict[str, Any]) -> dict[str, Any]:
    return {"action": row["decision"], "after.decision": row["decision"], "reason": row["reason"],
            "actor_id": str(row["decided_by_id"]), "metadata.channel": row["channel"]}


def _execution_expect(row: dict[str, Any]) -> dict[str, Any]:
    return {"type": "AGENT_DECISION_EXECUTED" if row["result"] == "success" else "AGENT_DECISION_FAILED",
            "after.result": row["result"], "after.error_code": row["error_code"],
            "metadata.executed_by": row["executed_by"], "metadata.approved_by": _text(row["approved_by_id"]),
            "reason": Truncated(row["error_message"], 4000)}


def _approval_expect(row: dict[str, Any]) -> dict[str, Any]:
    return {"action": row["decision"], "after.decision": row["decision"],
            "after.authority_id": str(row["authority_id"]), "reason": row["justification"],
            "actor_id": str(row["decided_by_id"]), "after.hash": row["hash"]}


def _transition_expect(row: dict[str, Any]) -> dict[str, Any]:
    expected = {"metadata.hash": row["hash"], "after.state": row["to_state"]}
    if row["sequence"] == 1:
        expected.update({"type": "DECISION_LIFECYCLE_OPENED", "after.decision_id": str(row["decision_id"])})
    else:
        expected.update({"type": "DECISION_LIFECYCLE_TRANSITIONED", "before.state": row["from_state"],
                         "metadata.decision_id": str(row["decision_id"])})
    return expected


def _transition_row_check(row: dict[str, Any]) -> str | None:
    from memory.transition_hash import transition_hash

    values = SimpleNamespace(id=row["pk"], **{k: row[k] for k in (
        "decision_id", "sequence", "from_state", "to_state", "triggered_by", "triggered_by_type", "reason",
        "created_at")})
    try:
        version = hash_version(row["hash"])
    except UnknownHashVersion:
        return "its hash names an unknown format (content altered)"
    if transition_hash(values, row["previous_hash"], version) != row["hash"]:
        return "the row no longer hashes to its hash (content altered)"
    return None


def _report_expect(row: dict[str, Any]) -> dict[str, Any]:
    return {"type": "INTEGRITY_CHECK_PASSED" if row["ok"] else "INTEGRITY_CHECK_FAILED", "after.ok": row["ok"],
            "metadata.trigger": row["trigger"]}


def specs() -> dict[str, RowEvidence]:
    """The append-only tables proven row by row (``payouts`` and ``risk_history`` have verifiers of their own;
    ``audit_events`` is the chain itself)."""
    from ads.models import AdSpendEvent
    from agents.models import AgentExecutionLog, AgentMemory, HumanDecision
    from billing.models import LedgerEntry
    from governance.models import ApprovalDecision
    from infrastructure.models import IntegrityReport
    from memory.models import LifecycleTransition

    found = [
        RowEvidence(
            model=LedgerEntry, event_types=("LEDGER_ENTRY_POSTED",), target_type="ledger_entry",
            fields=("account_id", "type", "amount", "description", "reference_id", "balance_after", "sequence",
                    "corrects_id", "tenant_id", "created_at"),
            expect=_ledger_expect,
            recorded_since=frozenset({"metadata.description", "metadata.created_at", "metadata.tenant_id"}),
            describe=lambda r: f"ledger entry {r['pk']} (account {r['account_id']}, sequence {r['sequence']})"),
        RowEvidence(
            model=AdSpendEvent, event_types=("AD_SPEND_APPLIED", "AD_SPEND_REFUSED"), target_type="ad_spend_event",
            fields=("campaign_id", "budget_id", "tenant_id", "amount", "quantity", "unit", "status",
                    "ledger_entry_id", "failure_reason", "failure_message", "idempotency_key", "created_at"),
            expect=_spend_expect, row_check=_spend_row_check,
            recorded_since=frozenset({"metadata.created_at", "metadata.tenant_id"}),
            describe=lambda r: f"ad spend event {r['pk']} ({r['status']}, campaign {r['campaign_id']})"),
        RowEvidence(
            model=AgentMemory, event_types=("OBSERVER_SUGGESTION_RECORDED",), target_type="agent_memory",
            fields=(), expect=_memory_expect, digest=True, row_check=_memory_row_check,
            describe=lambda r: f"suggestion {r['pk']} (agent_memory)"),
        RowEvidence(
            model=HumanDecision, event_types=("SUGGESTION_DECIDED",), target_type="agent_memory",
            target_field="suggestion_id", discriminator=("after.human_decision_id", "pk"), fields=(),
            expect=_human_decision_expect, digest=True,
            describe=lambda r: f"human decision {r['pk']} on suggestion {r['suggestion_id']}"),
        RowEvidence(
            model=AgentExecutionLog, event_types=("AGENT_DECISION_EXECUTED", "AGENT_DECISION_FAILED"),
            target_type="agent_decision", target_field="decision_id", discriminator=("after.log_id", "pk"),
            fields=(), expect=_execution_expect, digest=True,
            describe=lambda r: f"execution log {r['pk']} of decision {r['decision_id']}"),
        RowEvidence(
            model=ApprovalDecision, event_types=("APPROVAL_DECIDED",), target_type="approval_request",
            target_field="request_id", discriminator=("after.decision_id", "pk"),
            fields=("decision", "authority_id", "justification", "decided_by_id", "hash"),
            expect=_approval_expect, recorded_since=frozenset({"after.hash"}),
            describe=lambda r: f"approval decision {r['pk']} of request {r['request_id']}"),
        RowEvidence(
            model=LifecycleTransition, event_types=("DECISION_LIFECYCLE_OPENED", "DECISION_LIFECYCLE_TRANSITIONED"),
            target_type="decision_lifecycle", target_field="decision__id", discriminator=("metadata.sequence",
                                                                                          "sequence"),
            fields=("decision_id", "sequence", "from_state", "to_state", "triggered_by", "triggered_by_type",
                    "reason", "previous_hash", "hash", "created_at"),
            expect=_transition_expect, row_check=_transition_row_check,
            describe=lambda r: f"lifecycle transition {r['pk']} (decision {r['decision_id']}, sequence "
                               f"{r['sequence']})"),
        RowEvidence(
            model=IntegrityReport, event_types=("INTEGRITY_CHECK_PASSED", "INTEGRITY_CHECK_FAILED"),
            target_type="integrity_report", fields=(), expect=_report_expect, digest=True,
            describe=lambda r: f"integrity report {r['pk']}"),
    ]
    return {spec.table: spec for spec in found}


# ---- payouts: a mutable row, proven by the replay of its events ---------------------------------------------------

PAYOUT_EVENTS = ("PAYOUT_REQUESTED", "PAYOUT_APPROVED", "PAYOUT_REJECTED", "PAYOUT_FAILED", "PAYOUT_SENT")
_PAYOUT_FIELDS = ("account_id", "app_id", "amount", "status", "destination", "approval", "hold_entry_id",
                  "reversal_entry_id", "provider_reference")


def _replay(events: list[dict[str, Any]], where: str, result: Check) -> dict[str, Any] | None:
    """The payout's state as its events tell it, or None (with the problem) when they cannot."""
    requested = [e for e in events if e["type"] == "PAYOUT_REQUESTED"]
    if len(requested) != 1:
        result.fail(where, ("no PAYOUT_REQUESTED audit event records it (written behind the "
                            "application's back)" if not requested else
                            f"{len(requested)} PAYOUT_REQUESTED audit events"))
        return None
    first = requested[0]
    if events[0] is not first:
        result.fail(where, f"{event_name(events[0])} comes before the payout's request")
        return None
    state = {"amount": value_at(first, "after.amount"), "destination": value_at(first, "after.destination"),
             "destination_sha256": value_at(first, "metadata.destination_sha256"),
             "account_id": value_at(first, "metadata.account_id"),
             "hold_entry_id": value_at(first, "metadata.hold_entry_id"), "approval": value_at(first, "after.approval"),
             "status": "pending", "reversal_entry_id": None, "provider_reference": "", "app_id": first["app_id"]}
    for event in events[1:]:
        kind, pending = event["type"], state["status"] == "pending"
        awaiting = pending and state["approval"] == "awaiting"
        allowed = {"PAYOUT_APPROVED": awaiting, "PAYOUT_REJECTED": awaiting,
                   "PAYOUT_FAILED": pending and state["approval"] != "awaiting",
                   "PAYOUT_SENT": pending and state["approval"] in ("not_required", "approved")}
        if not allowed.get(kind, False):
            result.fail(where, f"{event_name(event)} cannot follow a payout {state['status']} with approval "
                               f"{state['approval']}")
            return None
        if kind == "PAYOUT_APPROVED":
            state["approval"] = "approved"
        elif kind == "PAYOUT_REJECTED":
            state.update(approval="rejected", status="failed",
                         reversal_entry_id=value_at(event, "metadata.reversal_entry_id"))
        elif kind == "PAYOUT_FAILED":
            state.update(status="failed", reversal_entry_id=value_at(event, "metadata.reversal_entry_id"))
        else:
            state.update(status="sent", provider_reference=value_at(event, "metadata.reference"))
    return state


def _check_payout(row: dict[str, Any], events: list[dict[str, Any]], entries: dict[str, dict], result: Check,
                  unproven: Counter) -> None:
    from billing.destinations import destination_digest, mask

    where = f"payout {row['pk']} (account {row['account_id']})"
    state = _replay(sorted(events, key=_order), where, result)
    if state is None:
        return
    held = {"amount": row["amount"], "destination": mask(row["destination"]), "account_id": str(row["account_id"]),
            "hold_entry_id": _text(row["hold_entry_id"]), "approval": row["approval"], "status": row["status"],
            "reversal_entry_id": _text(row["reversal_entry_id"]), "provider_reference": row["provider_reference"]}
    for name, value in held.items():
        if state[name] != value:
            result.fail(where, f"{name} is {value!r} in the row but {state[name]!r} by its audit events")
    if row["app_id"] is not None and state["app_id"] != str(row["app_id"]):
        result.fail(where, f"app {row['app_id']} in the row but {state['app_id']} in its request's event")
    if state["destination_sha256"] is MISSING:
        unproven["the destination's digest"] += 1
    elif state["destination_sha256"] != destination_digest(row["pk"], row["destination"]):
        result.fail(where, "the destination is not the one its request's audit event recorded")
    hold = entries.get(_text(row["hold_entry_id"]))
    if hold is None or (hold["type"], hold["amount"], hold["account_id"], hold["reference_id"]) != (
            "debit", row["amount"], row["account_id"], str(row["pk"])):
        result.fail(where, "its hold is not a ledger debit of its amount on its account")
    if row["reversal_entry_id"] is not None:
        reversal = entries.get(str(row["reversal_entry_id"]))
        if reversal is None or (reversal["type"], reversal["amount"], reversal["account_id"],
                                reversal["reference_id"], reversal["corrects_id"]) != (
                "credit", row["amount"], row["account_id"], str(row["pk"]), row["hold_entry_id"]):
            result.fail(where, "its reversal is not a ledger credit of its amount correcting its hold")


def verify_payouts() -> Check:
    """Every payout against its events: one ``PAYOUT_REQUESTED`` (amount, account, hold, approval, destination),
    then the state changes in order (approved, rejected, sent, failed), whose replay must give the row's status,
    approval, reversal and provider reference; its hold and reversal are the ledger entries they should be; and
    every payout event names an existing payout."""
    from billing.models import LedgerEntry, Payout

    result = Check()
    unproven: Counter = Counter()
    with snapshot():
        staged: dict[str, list[dict]] = defaultdict(list)
        for event in staged_events(PAYOUT_EVENTS):
            staged[event["target_id"]].append(event)
        matched = 0
        for batch, window in iter_rows(Payout, _PAYOUT_FIELDS):
            by_payout: dict[str, list[dict]] = defaultdict(list)
            for event in chained_events(PAYOUT_EVENTS, target_type="payout",
                                        target_ids=window.values("pk")[:BATCH]):
                by_payout[event["target_id"]].append(event)
            entry_ids = {e for r in batch for e in (r["hold_entry_id"], r["reversal_entry_id"]) if e is not None}
            entries = {str(e["pk"]): e for e in LedgerEntry.objects.filter(pk__in=entry_ids).values(
                "pk", "type", "amount", "account_id", "reference_id", "corrects_id")}
            for row in batch:
                result.checked += 1
                events = by_payout.get(str(row["pk"]), []) + staged.get(str(row["pk"]), [])
                matched += len(events)
                _check_payout(row, events, entries, result, unproven)
        in_chain, in_staging = count_events(PAYOUT_EVENTS)
        if in_chain + in_staging != matched:
            spec = RowEvidence(model=Payout, event_types=PAYOUT_EVENTS, target_type="payout", fields=(),
                               expect=dict)
            _orphans(spec, {(k, ""): v for k, v in staged.items()}, result)
    result.notes.append(f"{result.checked} payouts, {in_chain + in_staging} audit events")
    for what, count in sorted(unproven.items()):
        result.notes.append(f"{count} payouts predate the recording of {what}: unproven for those payouts")
    return result.finish()


# ---- risk history: one event per recomputation vouches for the rows it wrote --------------------------------------


def verify_risk_history() -> Check:
    """Each recomputation writes its rows with one ``created_at`` and records, in its ``RISK_SCORES_RECOMPUTED``
    event, that time, how many rows and their digest (``metadata.history``): every group of rows must match the
    latest event of its time, and every such event its rows. Rows older than the last event without that record
    predate it (unproven, counted)."""
    from agents.models import RiskHistory

    result = Check()
    types = ("RISK_SCORES_RECOMPUTED",)
    columns = rows.columns_of(RiskHistory)
    attnames = [f.attname for f in RiskHistory._meta.concrete_fields]
    with snapshot():
        vouched: dict[str, dict] = {}
        legacy_until = None
        for batch in itertools.chain(iter_chained_events(types), [staged_events(types)]):
            for event in batch:
                history = value_at(event, "metadata.history")
                if isinstance(history, dict) and isinstance(history.get("created_at"), str):
                    vouched[history["created_at"]] = {**history, "event": event}  # the latest one wins
                elif legacy_until is None or event["created_at"] > legacy_until:
                    legacy_until = event["created_at"]
        unproven = 0
        seen: set[str] = set()

        def settle(moment: str | None, group: list[dict]) -> None:
            nonlocal unproven
            if moment is None:
                return
            seen.add(moment)
            claim = vouched.get(moment)
            if claim is None:
                if legacy_until is not None and group[0]["created_at"] <= legacy_until:
                    unproven += len(group)
                else:
                    result.fail(f"risk_history rows {', '.join(str(r['id']) for r in group[:5])} (written at "
                                f"{moment}): no RISK_SCORES_RECOMPUTED audit event records them")
                return
            listed = claim.get("columns") or columns
            if not isinstance(listed, list) or rows.unknown_columns(RiskHistory, listed):
                result.fail(event_name(claim['event']), "a malformed risk_history digest")
                return
            by_column = dict(zip(columns, attnames, strict=True))
            contents = [{c: r[by_column[c]] for c in listed} for r in group]
            recorded = claim.get("sha256")
            if claim.get("rows") != len(group) or recorded != rows.group_digest(contents, _version(recorded)):
                result.fail(f"risk_history rows written at {moment}",
                            f"{len(group)} rows that do not match the {claim.get('rows')} recorded by "
                            f"{event_name(claim['event'])} (changed, added or removed after they were written)")

        moment, group = None, []
        last = None
        while True:
            query = RiskHistory._base_manager.order_by("created_at", "pk")
            if last is not None:
                query = query.filter(models.Q(created_at__gt=last[0]) | models.Q(created_at=last[0], pk__gt=last[1]))
            batch = list(query.values(*attnames)[:BATCH])
            if not batch:
                break
            last = (batch[-1]["created_at"], batch[-1]["id"])
            for row in batch:
                result.checked += 1
                at = chain.format_time(row["created_at"])
                if at != moment:
                    settle(moment, group)
                    moment, group = at, []
                group.append(row)
        settle(moment, group)
        for at, claim in vouched.items():
            if at not in seen and claim.get("rows"):
                result.fail(f"{event_name(claim['event'])} records {claim['rows']} risk_history rows written at "
                            f"{at}, which do not exist")
    result.notes.append(f"{result.checked} rows, {len(vouched)} recomputations vouched for")
    if unproven:
        result.notes.append(f"{unproven} rows predate the recording of their digest: unproven")
    return result.finish()


# ---- approval request parties: the people a request's event says it acts for ---------------------------------------


def verify_approval_parties() -> Check:
    """Each request's parties (``approval_request_parties``) are exactly those its ``APPROVAL_REQUESTED`` event
    lists in ``after.on_behalf_of``: a party removed would let that person decide, one added would bar someone.
    Requests whose event predates the list (their parties were added by a migration) are counted as unproven."""
    from governance.models import ApprovalParty

    result = Check()
    types = ("APPROVAL_REQUESTED",)
    unproven = 0
    seen: set[str] = set()
    with snapshot():
        staged: dict[str, list[dict]] = defaultdict(list)
        for event in staged_events(types):
            staged[event["target_id"]].append(event)

        def settle(request_id, parties: list[tuple[str, str]], events: list[dict]) -> None:
            nonlocal unproven
            seen.add(str(request_id))
            where = f"approval request {request_id}"
            if len(events) != 1:
                result.fail(where, f"parties {sorted(parties)} but {len(events)} APPROVAL_REQUESTED audit "
                                   "events" + (" (written behind the application's back)" if not events else ""))
                return
            listed = value_at(events[0], "after.on_behalf_of")
            if listed is MISSING:
                unproven += len(parties)
                return
            recorded = sorted((str(p.get("user_id")), str(p.get("relation"))) for p in listed if isinstance(p, dict))
            if sorted(parties) != recorded:
                result.fail(where, f"parties {sorted(parties)} in the table but {recorded} in its "
                                   f"{event_name(events[0])}")

        last = None
        while True:
            # Keyset over the requests that have parties, then every party of those requests.
            requests = ApprovalParty._base_manager.order_by("request_id").values_list("request_id", flat=True)
            if last is not None:
                requests = requests.filter(request_id__gt=last)
            request_ids = list(requests.distinct()[:BATCH])
            if not request_ids:
                break
            last = request_ids[-1]
            groups: dict[Any, list[tuple[str, str]]] = defaultdict(list)
            for request_id, user_id, relation in (ApprovalParty._base_manager.filter(request_id__in=request_ids)
                                                  .values_list("request_id", "user_id", "relation")):
                result.checked += 1
                groups[request_id].append((str(user_id), relation))
            by_request: dict[str, list[dict]] = defaultdict(list)
            for event in chained_events(types, target_type="approval_request", target_ids=request_ids):
                by_request[event["target_id"]].append(event)
            for request_id in request_ids:
                key = str(request_id)
                settle(request_id, groups[request_id], by_request.get(key, []) + staged.get(key, []))
        for batch in itertools.chain(iter_chained_events(types), [staged_events(types)]):
            for event in batch:
                listed = value_at(event, "after.on_behalf_of")
                if isinstance(listed, list) and listed and event["target_id"] not in seen:
                    result.fail(f"{event_name(event)} lists {len(listed)} parties of approval request "
                                f"{event['target_id']}, which has none in approval_request_parties")
    result.notes.append(f"{result.checked} parties of {len(seen)} requests")
    if unproven:
        result.notes.append(f"{unproven} parties belong to requests whose event predates the list of parties: "
                            "unproven")
    return result.finish()


# ---- registration -------------------------------------------------------------------------------------------------

# Covered elsewhere: the audit log is its own proof (its chain and signed checkpoints).
PROVEN_BY_THE_CHAIN = frozenset({"audit_events"})


def covered_tables() -> set[str]:
    return set(specs()) | {"payouts", "risk_history", "approval_request_parties"} | PROVEN_BY_THE_CHAIN


def verifiers() -> dict[str, Callable[[], Check]]:
    """``{verifier name: function}``, registered into the integrity registry by ``register_verifiers``."""
    found: dict[str, Callable[[], Check]] = {}
    for table, spec in specs().items():
        def run(spec: RowEvidence = spec) -> Check:
            return verify_rows(spec)

        run.__doc__ = (f"Every {table} row has exactly its {' / '.join(spec.event_types)} audit event, recording "
                       "what the row holds, and every such event its row.")
        found[f"evidence_{table}"] = run
    found["evidence_payouts"] = verify_payouts
    found["evidence_risk_history"] = verify_risk_history
    found["evidence_approval_request_parties"] = verify_approval_parties
    return found


def register_verifiers() -> None:
    """Register every verifier above (``console.apps`` calls this when the apps are ready)."""
    for name, func in verifiers().items():
        register(name)(func)
