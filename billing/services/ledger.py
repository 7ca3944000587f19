"""The ledger: the only code that changes a balance.

Every change is exactly one append-only ``ledger_entries`` row carrying the balance after it, written in the
same transaction as the balance update and its audit event, under a row lock on the account. Invariant for every
account (``python manage.py ledger_verify``): ``balance == Σcredits - Σdebits``, entries numbered 1..n with
``balance_after`` an unbroken running sum, and the last ``balance_after == balance``. The audit event records every
column of the entry (type as its action, balances before and after, the rest in its metadata): ``verify_all``
proves each entry against it, so a row inserted by other means than this module is found (``console.evidence``).

Amounts are positive integers of cents up to ``MAX_AMOUNT``; no balance may exceed ``MAX_BALANCE`` or go below 0.
Callers that hold a transaction of their own (ads spend, payouts) call these functions inside it: the posting
then commits or rolls back with the caller's other writes.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.chain import format_time
from audit.models import StagedEvent
from audit.services import STAGE_COLUMNS, audit_event_values, audit_record, audit_staged, stage_params
from billing import errors, events
from billing.models import MAX_AMOUNT, MAX_BALANCE, BillingAccount, LedgerEntry
from core.db import prepared_cursor
from core.errors import Conflict, InvalidInput, ServiceError
from infrastructure.services.killswitches import killswitch_ensure_running

CREDIT = LedgerEntry.Type.CREDIT
DEBIT = LedgerEntry.Type.DEBIT

MAX_DESCRIPTION = 1000
MAX_REFERENCE = 255
MIN_JUSTIFICATION = 10
MAX_TRANSFERS = 100


def validate_amount(amount: Any, *, field: str = "amount") -> int:
    """A positive whole number of cents no larger than ``MAX_AMOUNT`` (booleans and floats are refused)."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise errors.InvalidAmount(_("Amounts are whole numbers of cents."),
                                   fields={field: [_("Must be an integer number of cents.")]})
    if amount < 1 or amount > MAX_AMOUNT:
        raise errors.InvalidAmount(
            _("Amounts are between 1 and %(max)d cents.") % {"max": MAX_AMOUNT},
            fields={field: [_("Must be between 1 and %(max)d.") % {"max": MAX_AMOUNT}]},
        )
    return amount


def _validate_text(description: str, reference_id: str) -> tuple[str, str]:
    description = (description or "").replace("\x00", "")
    reference_id = str(reference_id or "").replace("\x00", "")
    if len(description) > MAX_DESCRIPTION:
        raise InvalidInput(fields={"description": [_("At most %(n)d characters.") % {"n": MAX_DESCRIPTION}]})
    if len(reference_id) > MAX_REFERENCE:
        raise InvalidInput(fields={"reference_id": [_("At most %(n)d characters.") % {"n": MAX_REFERENCE}]})
    return description, reference_id


def _account_pk(account_id: Any) -> uuid.UUID:
    try:
        return account_id if isinstance(account_id, uuid.UUID) else uuid.UUID(str(account_id))
    except (ValueError, TypeError, AttributeError):
        raise errors.AccountNotFound() from None


# The posting path runs plain SQL: it is the hottest write in the system, and the ORM's query compilation and
# per-instance machinery cost more than the statements themselves (the bench compares it with pgbench).
_ACCOUNT_COLUMNS = ("user_id", "balance", "currency", "last_sequence", "stripe_customer_id", "created_at",
                    "updated_at")
_LOCK_SQL = ("SELECT user_id, balance, currency, last_sequence, stripe_customer_id, created_at, updated_at "
             "FROM billing_accounts WHERE account_id = %s FOR UPDATE")
_UPDATE_SQL = "UPDATE billing_accounts SET balance = %s, last_sequence = %s, updated_at = %s WHERE account_id = %s"
_INSERT_SQL = ("INSERT INTO ledger_entries (entry_id, account_id, type, amount, description, reference_id, "
               "balance_after, sequence, corrects_entry_id, tenant_id, tenant_balance_after, created_at) "
               "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)")
# PostgreSQL writes the entry and the balance in one statement (one round trip less while the row lock is held).
_POST_SQL_PG = ("WITH entry AS (INSERT INTO ledger_entries (entry_id, account_id, type, amount, description, "
                "reference_id, balance_after, sequence, corrects_entry_id, tenant_id, tenant_balance_after, "
                "created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING account_id) "
                "UPDATE billing_accounts SET balance = %s, last_sequence = %s, updated_at = %s "
                "WHERE account_id = (SELECT account_id FROM entry)")
# A tenant's funds in an account, read and written only under the account's row lock (or, for a tenant's credit on
# PostgreSQL, in the statement that takes that lock), so the value read is the value in force.
_FUNDS_SQL = "SELECT balance FROM billing_tenant_funds WHERE account_id = %s AND tenant_id = %s"
_FUNDS_SET_SQL = ("INSERT INTO billing_tenant_funds (id, account_id, tenant_id, balance, updated_at) "
                  "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (account_id, tenant_id) "
                  "DO UPDATE SET balance = EXCLUDED.balance, updated_at = EXCLUDED.updated_at")
# PostgreSQL, a posting that corrects nothing: one statement updates the balance (the UPDATE takes the row lock and
# checks the bounds), writes the entry with the balance after it, and stages the audit event, whose JSON is the
# canonical text audit.services would write (the integers spliced in are spelled the same in SQL and in JSON). No
# row comes back when the bounds refuse the posting or the account does not exist: the locking path then says which.
_STAGE_FROM_ENTRY = (
    "staged AS ("  # noqa: S608 - the columns come from STAGE_COLUMNS; values travel as parameters
    "INSERT INTO audit_staging (" + ", ".join(STAGE_COLUMNS) + ") "
    "SELECT " + ", ".join(
        {"before": "'{\"balance\":' || (balance_after - %s) || '}'",
         "after": "'{\"balance\":' || balance_after || '}'",
         "metadata": "%s || sequence || %s"}.get(column, "%s") for column in STAGE_COLUMNS) + " FROM entry "
    "RETURNING id) "
)
_POST_ONE_STATEMENT_PG = (
    "WITH account AS ("  # noqa: S608 - the columns come from STAGE_COLUMNS; values travel as parameters
    "UPDATE billing_accounts SET balance = balance + %s, last_sequence = last_sequence + 1, updated_at = %s "
    "WHERE account_id = %s AND balance + %s BETWEEN 0 AND %s RETURNING account_id, balance, last_sequence), "
    "entry AS ("
    "INSERT INTO ledger_entries (entry_id, account_id, type, amount, description, reference_id, balance_after, "
    "sequence, corrects_entry_id, created_at) "
    "SELECT %s, account_id, %s, %s, %s, %s, balance, last_sequence, NULL, %s FROM account "
    "RETURNING balance_after, sequence, tenant_balance_after), "
    + _STAGE_FROM_ENTRY +
    "SELECT balance_after, sequence, tenant_balance_after FROM entry, staged"
)
# PostgreSQL, a tenant's credit: the same, and the tenant's funds raised in the statement too. Each write selects
# from the one before it, so the account row is locked before the funds row, the order every posting keeps.
_POST_TENANT_CREDIT_PG = (
    "WITH account AS ("  # noqa: S608 - the columns come from STAGE_COLUMNS; values travel as parameters
    "UPDATE billing_accounts SET balance = balance + %s, last_sequence = last_sequence + 1, updated_at = %s "
    "WHERE account_id = %s AND balance + %s BETWEEN 0 AND %s RETURNING account_id, balance, last_sequence), "
    "funds AS ("
    "INSERT INTO billing_tenant_funds (id, account_id, tenant_id, balance, updated_at) "
    "SELECT %s, account_id, %s, %s, %s FROM account ON CONFLICT (account_id, tenant_id) "
    "DO UPDATE SET balance = billing_tenant_funds.balance + EXCLUDED.balance, updated_at = EXCLUDED.updated_at "
    "RETURNING balance AS funds_after), "
    "entry AS ("
    "INSERT INTO ledger_entries (entry_id, account_id, type, amount, description, reference_id, balance_after, "
    "sequence, corrects_entry_id, tenant_id, tenant_balance_after, created_at) "
    "SELECT %s, account_id, %s, %s, %s, %s, balance, last_sequence, NULL, %s, funds_after, %s FROM account, funds "
    "RETURNING balance_after, sequence, tenant_balance_after), "
    + _STAGE_FROM_ENTRY +
    "SELECT balance_after, sequence, tenant_balance_after FROM entry, staged"
)
_UUID = LedgerEntry._meta.get_field("id")
# Stands for the entry's sequence number in the canonical metadata the one statement completes (no real sequence
# is negative).
_SEQUENCE_MARK = -1
_TIME = LedgerEntry._meta.get_field("created_at")

# PostgreSQL, the postings that need more than one statement's worth of logic run as one call of a function the
# migrations create (billing 0005): ``ledger_post_apply`` (a tenant's debit: its funds are checked under the account's
# row lock) and ``ledger_transfer_apply`` (a batch of transfers, all or none). Each returns one row per entry it wrote
# (``POSTED_COLUMNS``), or one row naming its refusal, and the statement that calls it, as the CTE ``posted``, stages
# each entry's audit event from that row with ``POSTED_EVENTS_SQL``: the columns audit.services gives (as arrays, one
# element per entry: ``posted_events_params``), the balances before and after, and the entry's sequence spliced into
# its canonical metadata, as ``_STAGE_FROM_ENTRY`` does for a single posting. A statement of another app that posts
# through ``ledger_post_apply`` (the ads spend) stages its entry's event the same way.
_EVENT_ARRAY_COLUMNS = tuple(c for c in STAGE_COLUMNS if c not in ("before", "after", "metadata"))
_ARRAY_TYPES = {"UUIDField": "uuid[]", "DateTimeField": "timestamptz[]"}
POSTED_EVENTS_SQL = (
    "staged AS ("  # noqa: S608 - the columns come from STAGE_COLUMNS; values travel as parameters
    "INSERT INTO audit_staging (" + ", ".join(STAGE_COLUMNS) + ") "
    "SELECT " + ", ".join(
        {"before": "'{\"balance\":' || p.before_balance || '}'",
         "after": "'{\"balance\":' || p.after_balance || '}'",
         "metadata": "e.metadata_head || p.after_sequence || e.metadata_tail"}.get(column, f"e.{column}")
        for column in STAGE_COLUMNS) +
    " FROM posted p JOIN unnest(" + ", ".join(
        f"%s::{_ARRAY_TYPES.get(StagedEvent._meta.get_field(c).get_internal_type(), 'text[]')}"
        for c in _EVENT_ARRAY_COLUMNS) + ", %s::text[], %s::text[]) "
    "WITH ORDINALITY AS e(" + ", ".join(_EVENT_ARRAY_COLUMNS) + ", metadata_head, metadata_tail, entry_no) "
    "ON e.entry_no = p.entry_no WHERE p.refusal IS NULL) "
)
POSTED_COLUMNS = "entry_no, refusal, available, before_balance, after_balance, after_sequence, after_funds"
_POST_APPLY_PG = (
    "WITH posted AS (SELECT * FROM ledger_post_apply(%s, %s, %s, %s, %s, %s, %s, %s, %s)), "  # noqa: S608 - as above
    + POSTED_EVENTS_SQL + "SELECT " + POSTED_COLUMNS + " FROM posted ORDER BY entry_no"
)
_TRANSFER_APPLY_PG = (
    "WITH posted AS (SELECT * FROM ledger_transfer_apply(%s::uuid[], %s::uuid[], %s::bigint[], %s::text[], "  # noqa: S608
    "%s::text[], %s::uuid[], %s::uuid, %s, %s)), "
    + POSTED_EVENTS_SQL + "SELECT " + POSTED_COLUMNS + " FROM posted ORDER BY entry_no"
)


def lock_account(account_id: Any) -> BillingAccount:
    """The account row, locked (``SELECT … FOR UPDATE``) until the end of the caller's transaction."""
    pk = _account_pk(account_id)
    if connection.vendor != "postgresql":  # SQLite serialises writers itself (transactions start IMMEDIATE)
        try:
            return BillingAccount.objects.select_for_update().get(pk=pk)
        except BillingAccount.DoesNotExist:
            raise errors.AccountNotFound() from None
    with prepared_cursor() as cursor:
        cursor.execute(_LOCK_SQL, [pk])
        row = cursor.fetchone()
    if row is None:
        raise errors.AccountNotFound()
    account = BillingAccount(id=pk, **dict(zip(_ACCOUNT_COLUMNS, row, strict=True)))
    account._state.adding, account._state.db = False, connection.alias
    return account


def _tenant_pk(tenant_id: Any) -> uuid.UUID | None:
    if tenant_id is None:
        return None
    return tenant_id if isinstance(tenant_id, uuid.UUID) else uuid.UUID(str(tenant_id))


def tenant_funds_locked(account_pk: uuid.UUID, tenant_pk: uuid.UUID) -> int:
    """The tenant's funds in the account; the caller holds the account's row lock."""
    with prepared_cursor() as cursor:
        cursor.execute(_FUNDS_SQL, [_UUID.get_db_prep_value(account_pk, connection),
                                    _UUID.get_db_prep_value(tenant_pk, connection)])
        row = cursor.fetchone()
    return row[0] if row else 0


def _insufficient(*, available: int, amount: int, tenant: bool) -> errors.InsufficientFunds:
    if tenant:
        # Said to a tenant: what it may move, never the account's whole balance (other tenants' money in it).
        return errors.InsufficientFunds(
            _("The funds available to this tenant (%(available)d) are lower than the debit (%(amount)d).")
            % {"available": available, "amount": amount}, extra={"available": available, "amount": amount})
    return errors.InsufficientFunds(
        _("The balance (%(balance)d) is lower than the debit (%(amount)d).") % {"balance": available, "amount": amount},
        extra={"balance": available, "amount": amount})


def _balance_limit() -> Conflict:
    return Conflict(_("A balance cannot exceed %(max)d cents.") % {"max": MAX_BALANCE},
                    code=errors.BALANCE_LIMIT_EXCEEDED)


def _currency_mismatch() -> InvalidInput:
    return InvalidInput(_("Both accounts must hold the same currency."), code=errors.CURRENCY_MISMATCH)


def _refusal(code: str, *, amount: int, available: int | None, tenant: bool) -> ServiceError:
    """The error for a refusal a ledger function named (the same the locking path raises)."""
    if code == errors.INSUFFICIENT_FUNDS:
        return _insufficient(available=available, amount=amount, tenant=tenant)
    if code == errors.BALANCE_LIMIT_EXCEEDED:
        return _balance_limit()
    if code == errors.CURRENCY_MISMATCH:
        return _currency_mismatch()
    if code == errors.ACCOUNT_NOT_FOUND:
        return errors.AccountNotFound()
    raise DatabaseError(f"ledger: unknown refusal {code!r}")


def _ledger_metadata(*, account_pk: Any, amount: int, reference_id: str, corrects: Any, sequence: Any,
                     tenant_pk: uuid.UUID | None, description: str, created_at: datetime) -> dict[str, Any]:
    # Every column of the entry that is known before it is written: verify_all proves the entry against them. The
    # tenant is recorded even when there is none, so that "no tenant" reads apart from events written before the
    # tenant was recorded.
    return {"account_id": str(account_pk), "amount": amount, "sequence": sequence,
            "reference_id": reference_id, "corrects": str(corrects) if corrects else None,
            "tenant_id": str(tenant_pk) if tenant_pk is not None else None,
            "description": description, "created_at": format_time(created_at)}


def _post_locked(account: BillingAccount, *, type: str, amount: int, description: str, reference_id: str,
                 corrects: LedgerEntry | None = None, tenant_id: Any = None) -> LedgerEntry:
    """Write one entry on an account whose row lock the caller holds; a tenant's entry also moves (and, for a debit,
    is limited by) the tenant's funds in the account."""
    tenant_pk = _tenant_pk(tenant_id)
    before = account.balance
    funds_before = tenant_funds_locked(account.pk, tenant_pk) if tenant_pk is not None else None
    funds_after = None
    if type == DEBIT:
        after = before - amount
        if funds_before is not None:
            if amount > min(funds_before, before):
                raise _insufficient(available=min(funds_before, before), amount=amount, tenant=True)
            funds_after = funds_before - amount
        elif after < 0:
            raise _insufficient(available=before, amount=amount, tenant=False)
    else:
        after = before + amount
        if after > MAX_BALANCE:
            raise _balance_limit()
        if funds_before is not None:
            funds_after = funds_before + amount
    sequence = account.last_sequence + 1
    now = timezone.now()
    entry = LedgerEntry(id=uuid.uuid4(), account=account, type=type, amount=amount, description=description,
                        reference_id=reference_id, balance_after=after, sequence=sequence, corrects=corrects,
                        tenant_id=tenant_pk, tenant_balance_after=funds_after, created_at=now)
    prep_now = _TIME.get_db_prep_value(now, connection)
    account_pk = _UUID.get_db_prep_value(account.pk, connection)
    corrects_pk = _UUID.get_db_prep_value(corrects.pk, connection) if corrects else None
    prep_tenant = _UUID.get_db_prep_value(tenant_pk, connection) if tenant_pk is not None else None
    entry_values = [_UUID.get_db_prep_value(entry.id, connection), account_pk, type, amount, description,
                    reference_id, after, sequence, corrects_pk, prep_tenant, funds_after, prep_now]
    with prepared_cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_POST_SQL_PG, [*entry_values, after, sequence, prep_now])
        else:
            cursor.execute(_INSERT_SQL, entry_values)
            cursor.execute(_UPDATE_SQL, [after, sequence, prep_now, account_pk])
        if cursor.rowcount != 1:
            raise DatabaseError(f"ledger: the balance of account {account.pk} was not updated")
        if tenant_pk is not None:
            cursor.execute(_FUNDS_SET_SQL, [_UUID.get_db_prep_value(uuid.uuid4(), connection), account_pk,
                                            prep_tenant, funds_after, prep_now])
    entry._state.adding, entry._state.db = False, connection.alias
    account.balance, account.last_sequence, account.updated_at = after, sequence, now
    audit_record(
        events.LEDGER_ENTRY_POSTED,
        action=type,
        target_type="ledger_entry",
        target_id=entry.id,
        before={"balance": before},
        after={"balance": after},
        metadata=_ledger_metadata(account_pk=account.pk, amount=amount, reference_id=reference_id,
                                  corrects=corrects.pk if corrects else None, sequence=sequence, tenant_pk=tenant_pk,
                                  description=description, created_at=now),
    )
    return entry


def _check_correction(account: BillingAccount, corrects: Any, *, type: str, amount: int) -> LedgerEntry:
    try:
        original = corrects if isinstance(corrects, LedgerEntry) else LedgerEntry.objects.get(pk=corrects)
    except (LedgerEntry.DoesNotExist, ValidationError, ValueError, TypeError):
        raise InvalidInput(_("The entry to correct does not exist."), code=errors.INVALID_CORRECTION) from None
    if original.account_id != account.pk:
        raise InvalidInput(_("A correction is posted on the corrected entry's account."),
                           code=errors.INVALID_CORRECTION)
    if original.type == type:
        raise InvalidInput(_("A correction has the opposite type of the entry it corrects."),
                           code=errors.INVALID_CORRECTION)
    # Serialised by the account lock: corrections of an entry live on the same account.
    corrected = LedgerEntry.objects.filter(corrects=original).aggregate(total=Sum("amount"))["total"] or 0
    remaining = original.amount - corrected
    if amount > remaining:
        raise InvalidInput(
            _("Only %(remaining)d cents of this entry are left to correct.") % {"remaining": remaining},
            code=errors.INVALID_CORRECTION, extra={"remaining": remaining},
        )
    return original


def ledger_post(*, account_id: Any, type: str, amount: int, description: str = "", reference_id: str = "",
                corrects: Any = None, tenant_id: Any = None) -> LedgerEntry:
    """Credit or debit one account; the only way a balance changes.

    Refuses a debit below zero (409 ``insufficient_funds``) and any posting while the ``billing`` or ``all`` kill
    switch is in force (423, nothing written). ``corrects`` (an entry or its id) makes this a correction: the
    opposite type, on the same account, for at most what is left of the corrected entry, and of the corrected
    entry's tenant.

    ``tenant_id`` names the tenant whose operation this is (``billing.tenancy``): the entry moves the tenant's funds
    in the account, and a tenant's debit is refused beyond them (409 ``insufficient_funds``, naming only what the
    tenant may move). Without it the entry is staff's or the system's and moves no tenant's funds.

    Inside the caller's transaction when there is one, else in its own.
    """
    if type not in (CREDIT, DEBIT):
        raise InvalidInput(fields={"type": [_("Must be credit or debit.")]})
    amount = validate_amount(amount)
    description, reference_id = _validate_text(description, reference_id)
    try:
        tenant_pk = _tenant_pk(tenant_id)
    except (ValueError, TypeError, AttributeError):
        raise InvalidInput(fields={"tenant_id": [_("Must be a tenant's id.")]}) from None
    killswitch_ensure_running("billing")
    if corrects is None and connection.vendor == "postgresql":
        if tenant_pk is not None and type == DEBIT:  # its funds are checked under the row lock, in the function
            return _post_through_function(_account_pk(account_id), type=type, amount=amount,
                                          description=description, reference_id=reference_id, tenant_pk=tenant_pk)
        entry = _post_in_one_statement(_account_pk(account_id), type=type, amount=amount, description=description,
                                       reference_id=reference_id, tenant_pk=tenant_pk)
        if entry is not None:
            return entry
    # SQLite, corrections, and postings the one statement refused (to name the reason under the row lock).
    with transaction.atomic():
        account = lock_account(account_id)
        original = _check_correction(account, corrects, type=type, amount=amount) if corrects is not None else None
        if original is not None:
            if tenant_pk is not None and original.tenant_id != tenant_pk:
                raise InvalidInput(_("The entry to correct does not exist."), code=errors.INVALID_CORRECTION)
            tenant_pk = original.tenant_id
        return _post_locked(account, type=type, amount=amount, description=description, reference_id=reference_id,
                            corrects=original, tenant_id=tenant_pk)


def _post_in_one_statement(account_pk: uuid.UUID, *, type: str, amount: int, description: str,
                           reference_id: str, tenant_pk: uuid.UUID | None = None) -> LedgerEntry | None:
    """The posting as one PostgreSQL statement (``_POST_ONE_STATEMENT_PG``, or ``_POST_TENANT_CREDIT_PG`` for a
    tenant's credit): atomic on its own, and the row lock is held only while it runs (until the caller's commit
    inside a transaction). None when it wrote nothing."""
    delta = amount if type == CREDIT else -amount
    entry_id, now = uuid.uuid4(), timezone.now()
    event = audit_event_values(
        events.LEDGER_ENTRY_POSTED, action=type, target_type="ledger_entry", target_id=entry_id,
        metadata=_ledger_metadata(account_pk=account_pk, amount=amount, reference_id=reference_id, corrects=None,
                                  sequence=_SEQUENCE_MARK, tenant_pk=tenant_pk, description=description,
                                  created_at=now))
    head, tail = _around_sequence(event["metadata"])
    stage = stage_params(event)
    before_at = STAGE_COLUMNS.index("before")
    metadata_at = STAGE_COLUMNS.index("metadata")
    staged = [*stage[:before_at], delta, *stage[before_at + 2:metadata_at], head, tail,
              *stage[metadata_at + 1:]]  # before: (delta); after: no parameter; metadata: around the sequence
    prep_now = _TIME.get_db_prep_value(now, connection)
    if tenant_pk is None:
        sql = _POST_ONE_STATEMENT_PG
        params = [delta, prep_now, account_pk, delta, MAX_BALANCE,
                  entry_id, type, amount, description, reference_id, prep_now, *staged]
    else:
        sql = _POST_TENANT_CREDIT_PG
        params = [delta, prep_now, account_pk, delta, MAX_BALANCE,
                  uuid.uuid4(), tenant_pk, amount, prep_now,
                  entry_id, type, amount, description, reference_id, tenant_pk, prep_now, *staged]
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    balance_after, sequence, funds_after = row
    audit_staged()
    entry = LedgerEntry(id=entry_id, account_id=account_pk, type=type, amount=amount, description=description,
                        reference_id=reference_id, balance_after=balance_after, sequence=sequence, corrects=None,
                        tenant_id=tenant_pk, tenant_balance_after=funds_after, created_at=now)
    entry._state.adding, entry._state.db = False, connection.alias
    return entry


def _post_through_function(account_pk: uuid.UUID, *, type: str, amount: int, description: str, reference_id: str,
                           tenant_pk: uuid.UUID | None) -> LedgerEntry:
    """The posting as one call of ``ledger_post_apply`` (PostgreSQL), its audit event staged in the same statement;
    a refusal raises the error the locking path would."""
    now = timezone.now()
    entry = LedgerEntry(id=uuid.uuid4(), account_id=account_pk, type=type, amount=amount, description=description,
                        reference_id=reference_id, corrects=None, tenant_id=tenant_pk, created_at=now)
    params = [account_pk, type, amount, description, reference_id, entry.id, tenant_pk, MAX_BALANCE,
              _TIME.get_db_prep_value(now, connection), *posted_events_params([entry])]
    with prepared_cursor() as cursor:
        cursor.execute(_POST_APPLY_PG, params)
        row = cursor.fetchone()
    if row[1] is not None:
        raise _refusal(row[1], amount=amount, available=row[2], tenant=tenant_pk is not None)
    audit_staged()
    return posted_entry(entry, row=row)


@dataclass(frozen=True)
class Transfer:
    """One transfer of a batch (``ledger_transfers``): ``amount`` cents from one account to another."""

    from_account_id: Any
    to_account_id: Any
    amount: int
    description: str = ""
    reference_id: str = ""


def ledger_transfer(*, from_account_id: Any, to_account_id: Any, amount: int, description: str = "",
                    reference_id: str = "", tenant_id: Any = None) -> tuple[LedgerEntry, LedgerEntry]:
    """Move money between two accounts of one currency: a debit and a credit, both or neither.

    Both rows are locked in ascending id order, whichever direction the money goes, so two opposite transfers
    never deadlock. ``reference_id`` defaults to ``transfer:<uuid>`` and is carried by both entries. With
    ``tenant_id`` it is the tenant's transfer: the debit draws on its funds in the source (``billing.tenancy``) and
    the credit raises its funds in the target. See ``ledger_transfers``.
    """
    return ledger_transfers([Transfer(from_account_id, to_account_id, amount, description, reference_id)],
                            tenant_id=tenant_id)[0]


def ledger_transfers(transfers: Sequence[Transfer], *, tenant_id: Any = None) -> list[tuple[LedgerEntry, LedgerEntry]]:
    """Apply 1 to ``MAX_TRANSFERS`` transfers in order, all or none; return each one's (debit, credit).

    Every account of the batch is locked up front, in ascending id order, so batches never deadlock whatever their
    transfers point at; each transfer is then checked on the balances (and the tenant's funds) the ones before it
    left. The first that cannot be applied refuses the whole batch, nothing written, with the ledger's error
    (``insufficient_funds``, ``balance_limit_exceeded``, ``currency_mismatch``, ``account_not_found``,
    ``same_account``, ``invalid_amount``) carrying ``transfer``, that transfer's index. The ``billing`` and ``all``
    kill switches refuse it (423). On PostgreSQL the batch is one statement (``ledger_transfer_apply``), atomic on
    its own or part of the caller's transaction; elsewhere it is the locking path.
    """
    if not 1 <= len(transfers) <= MAX_TRANSFERS:
        raise InvalidInput(_("A batch holds 1 to %(n)d transfers.") % {"n": MAX_TRANSFERS},
                           fields={"transfers": [_("Between 1 and %(n)d items.") % {"n": MAX_TRANSFERS}]})
    try:
        tenant_pk = _tenant_pk(tenant_id)
    except (ValueError, TypeError, AttributeError):
        raise InvalidInput(fields={"tenant_id": [_("Must be a tenant's id.")]}) from None
    cleaned = []
    for index, transfer in enumerate(transfers):
        with _naming_transfer(index):
            amount = validate_amount(transfer.amount)
            description, reference_id = _validate_text(transfer.description, transfer.reference_id)
            try:
                source, target = uuid.UUID(str(transfer.from_account_id)), uuid.UUID(str(transfer.to_account_id))
            except ValueError:
                raise errors.AccountNotFound() from None
            if source == target:
                raise InvalidInput(_("A transfer needs two different accounts."), code=errors.SAME_ACCOUNT)
        cleaned.append(Transfer(source, target, amount, description, reference_id or f"transfer:{uuid.uuid4()}"))
    killswitch_ensure_running("billing")
    if connection.vendor == "postgresql":
        return _transfers_in_one_statement(cleaned, tenant_pk=tenant_pk)
    with transaction.atomic():
        locked = {}
        for pk in sorted({t.from_account_id for t in cleaned} | {t.to_account_id for t in cleaned}):
            with suppress(errors.AccountNotFound):
                locked[pk] = lock_account(pk)
        for index, transfer in enumerate(cleaned):  # as the function: a missing account first, then in order
            if transfer.from_account_id not in locked or transfer.to_account_id not in locked:
                with _naming_transfer(index):
                    raise errors.AccountNotFound()
        applied = []
        for index, transfer in enumerate(cleaned):
            with _naming_transfer(index):
                source, target = locked[transfer.from_account_id], locked[transfer.to_account_id]
                if source.currency != target.currency:
                    raise _currency_mismatch()
                posting = {"amount": transfer.amount, "description": transfer.description,
                           "reference_id": transfer.reference_id, "tenant_id": tenant_pk}
                applied.append((_post_locked(source, type=DEBIT, **posting),
                                _post_locked(target, type=CREDIT, **posting)))
        return applied


@contextmanager
def _naming_transfer(index: int) -> Iterator[None]:
    """A refusal raised while transfer ``index`` is checked carries its index (``extra["transfer"]``)."""
    try:
        yield
    except ServiceError as exc:
        exc.extra = {**exc.extra, "transfer": index}
        raise


def posted_events_params(entries: Sequence[LedgerEntry]) -> list[list[Any]]:
    """The staged events of ``entries`` (written by one statement) as ``POSTED_EVENTS_SQL``'s parameters: one array
    per column, then the canonical metadata before and after the sequence, which only the statement knows."""
    columns: list[list[Any]] = [[] for _ in range(len(_EVENT_ARRAY_COLUMNS) + 2)]
    for entry in entries:
        event = audit_event_values(
            events.LEDGER_ENTRY_POSTED, action=entry.type, target_type="ledger_entry", target_id=entry.id,
            metadata=_ledger_metadata(account_pk=entry.account_id, amount=entry.amount,
                                      reference_id=entry.reference_id, corrects=None, sequence=_SEQUENCE_MARK,
                                      tenant_pk=entry.tenant_id, description=entry.description,
                                      created_at=entry.created_at))
        values = dict(zip(STAGE_COLUMNS, stage_params(event), strict=True))
        for column, name in zip(columns, _EVENT_ARRAY_COLUMNS, strict=False):
            column.append(values[name])
        head, tail = _around_sequence(event["metadata"])
        columns[-2].append(head)
        columns[-1].append(tail)
    return columns


def _around_sequence(metadata: str) -> tuple[str, str]:
    """The canonical metadata of an entry's event before and after its sequence number, which only the statement
    that writes the entry knows."""
    head, tail = metadata.split(f'"sequence":{_SEQUENCE_MARK}', 1)
    return head + '"sequence":', tail


def posted_entry(entry: LedgerEntry, *, row: tuple) -> LedgerEntry:
    """``entry`` with what the statement that wrote it returned (``POSTED_COLUMNS``), as a saved instance."""
    entry.balance_after, entry.sequence, entry.tenant_balance_after = row[4], row[5], row[6]
    entry._state.adding, entry._state.db = False, connection.alias
    return entry


def _transfers_in_one_statement(transfers: list[Transfer], *,
                                tenant_pk: uuid.UUID | None) -> list[tuple[LedgerEntry, LedgerEntry]]:
    now = timezone.now()
    entries = [LedgerEntry(id=uuid.uuid4(), account_id=account, type=type, amount=t.amount,
                           description=t.description, reference_id=t.reference_id, corrects=None,
                           tenant_id=tenant_pk, created_at=now)
               for t in transfers for account, type in ((t.from_account_id, DEBIT), (t.to_account_id, CREDIT))]
    params = [[t.from_account_id for t in transfers], [t.to_account_id for t in transfers],
              [t.amount for t in transfers], [t.description for t in transfers],
              [t.reference_id for t in transfers], [e.id for e in entries], tenant_pk, MAX_BALANCE,
              _TIME.get_db_prep_value(now, connection), *posted_events_params(entries)]
    with prepared_cursor() as cursor:
        cursor.execute(_TRANSFER_APPLY_PG, params)
        rows = cursor.fetchall()
    if rows and rows[0][1] is not None:
        index = rows[0][0] - 1
        refusal = _refusal(rows[0][1], amount=transfers[index].amount, available=rows[0][2],
                           tenant=tenant_pk is not None)
        refusal.extra = {**refusal.extra, "transfer": index}
        raise refusal
    if len(rows) != len(entries):
        raise DatabaseError(f"ledger: a batch of {len(transfers)} transfers wrote {len(rows)} entries")
    audit_staged()
    filled = [posted_entry(entry, row=row) for entry, row in zip(entries, rows, strict=True)]
    return list(zip(filled[::2], filled[1::2], strict=True))


@transaction.atomic
def ledger_adjust(*, account_id: Any, type: str, amount: int, justification: str, actor: Any) -> LedgerEntry:
    """A finance officer's manual credit or debit, justified in at least 10 characters and audited."""
    justification = (justification or "").strip()
    if len(justification) < MIN_JUSTIFICATION:
        raise InvalidInput(fields={"justification": [
            _("Explain the adjustment in at least %(n)d characters.") % {"n": MIN_JUSTIFICATION}]})
    entry = ledger_post(account_id=account_id, type=type, amount=amount,
                        description=_("Manual adjustment: %(why)s") % {"why": justification[:900]},
                        reference_id="adjustment")
    audit_record(
        events.LEDGER_ADJUSTED,
        action=type,
        target_type="billing_account",
        target_id=entry.account_id,
        after={"entry_id": str(entry.pk), "type": type, "amount": amount, "balance": entry.balance_after},
        reason=justification,
        actor_id=getattr(actor, "pk", None),
        actor_type="admin",
    )
    return entry
