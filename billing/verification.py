"""Checking the ledger invariant over every account, streaming (memory stays flat however big the ledger is).

For each account: entries are numbered 1..n without gaps, every amount is positive, every ``balance_after`` is the
previous one plus the credit or minus the debit (starting from 0) and never negative,
``balance == Σcredits - Σdebits``, the last ``balance_after == balance`` and ``last_sequence == n``. For each tenant
with entries in the account (``billing.tenancy``): every ``tenant_balance_after`` is that tenant's running sum, never
negative, and its funds row (``billing_tenant_funds``) holds the last one; an entry of no tenant carries none.

Accounts and entries are read by two cursors ordered the same way and merged, inside one snapshot (REPEATABLE READ
on PostgreSQL) so that postings committed during the check do not show up half-way.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.db import connection, transaction

from billing.models import BillingAccount, LedgerEntry, TenantFunds
from core.integrity.registry import Check

CHUNK = 2000


@dataclass
class LedgerReport(Check):
    """The integrity registry's ``Check`` of the ledger: ``checked`` accounts (also ``accounts``) and their
    ``entries``; each problem names its account (``problem.account_id``)."""

    entries: int = 0

    @property
    def accounts(self) -> int:
        return self.checked

    def account_problem(self, account_id, message: str) -> None:
        self.fail(f"account {account_id}", message, account_id=str(account_id))


def _account_problems(account_id, balance: int, last_sequence: int, entries: Iterator[tuple],
                      funds: dict | None = None) -> tuple[int, list[str]]:
    """Check one account's entries (already in sequence order) and its tenants' funds (``{tenant_id: balance}``).
    Returns (entries seen, problems)."""
    problems: list[str] = []
    running = credits = debits = 0
    expected = 1
    count = 0
    tenants: dict = {}
    for sequence, kind, amount, balance_after, tenant_id, tenant_after in entries:
        if tenant_id is None:
            if tenant_after is not None:
                problems.append(f"entry {sequence} of no tenant carries tenant funds {tenant_after}")
        else:
            signed = amount if kind == LedgerEntry.Type.CREDIT else -amount
            tenants[tenant_id] = tenants.get(tenant_id, 0) + signed
            if tenant_after != tenants[tenant_id]:
                problems.append(f"entry {sequence}: tenant {tenant_id}'s funds after it are {tenant_after} but its "
                                f"running sum is {tenants[tenant_id]}")
                tenants[tenant_id] = tenant_after if tenant_after is not None else tenants[tenant_id]
            if tenants[tenant_id] < 0:
                problems.append(f"entry {sequence}: tenant {tenant_id}'s funds went negative")
        count += 1
        if sequence != expected:
            problems.append(f"entry sequence {sequence} where {expected} was expected (gap or duplicate)")
            expected = sequence
        expected += 1
        if amount <= 0:
            problems.append(f"entry {sequence} has a non-positive amount {amount}")
        if kind == LedgerEntry.Type.CREDIT:
            credits += amount
            running += amount
        elif kind == LedgerEntry.Type.DEBIT:
            debits += amount
            running -= amount
        else:
            problems.append(f"entry {sequence} has an unknown type {kind!r}")
        if balance_after != running:
            problems.append(f"entry {sequence}: balance_after {balance_after} but the running sum is {running}")
            running = balance_after
        if balance_after < 0:
            problems.append(f"entry {sequence}: negative balance_after {balance_after}")
    if credits - debits != balance:
        problems.append(f"balance {balance} but credits - debits = {credits - debits}")
    if count and running != balance:
        problems.append(f"balance {balance} but the last balance_after is {running}")
    if last_sequence != count:
        problems.append(f"last_sequence {last_sequence} but {count} entries")
    for tenant_id in sorted(set(tenants) | set(funds or {}), key=str):
        held, summed = (funds or {}).get(tenant_id, 0), tenants.get(tenant_id, 0)
        if held != summed:
            problems.append(f"tenant {tenant_id}'s funds are {held} but its entries sum to {summed}")
    return count, problems


def ledger_check(*, stop_at_first: bool = False, progress: Callable[[int, int], None] | None = None,
                 progress_every: int = 1000) -> LedgerReport:
    """Verify every account. ``progress(accounts, entries)`` is called every ``progress_every`` accounts."""
    report = LedgerReport()
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        accounts = (BillingAccount.objects.order_by("pk").values_list("pk", "balance", "last_sequence")
                    .iterator(chunk_size=CHUNK))
        entries = (LedgerEntry.objects.order_by("account_id", "sequence")
                   .values_list("account_id", "sequence", "type", "amount", "balance_after", "tenant_id",
                                "tenant_balance_after")
                   .iterator(chunk_size=CHUNK * 5))
        funds_rows = (TenantFunds.objects.order_by("account_id", "tenant_id")
                      .values_list("account_id", "tenant_id", "balance").iterator(chunk_size=CHUNK))
        pending = next(entries, None)
        pending_funds = next(funds_rows, None)
        for account_id, balance, last_sequence in accounts:
            def own_entries(account_id=account_id) -> Iterator[tuple]:
                # Both cursors use the database's order, so an entry of another account belongs to a later one.
                nonlocal pending
                while pending is not None and pending[0] == account_id:
                    yield pending[1:]
                    pending = next(entries, None)

            funds = {}
            while pending_funds is not None and pending_funds[0] == account_id:
                funds[pending_funds[1]] = pending_funds[2]
                pending_funds = next(funds_rows, None)
            count, problems = _account_problems(account_id, balance, last_sequence, own_entries(), funds)
            report.checked += 1
            report.entries += count
            for problem in problems:
                report.account_problem(account_id, problem)
            if problems and stop_at_first:
                break
            if progress and report.accounts % progress_every == 0:
                progress(report.accounts, report.entries)
        if pending is not None and not (stop_at_first and report.problems):
            report.account_problem(pending[0], "ledger entries that no account was matched with (ordering mismatch)")
    return report
