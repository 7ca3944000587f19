"""A hypothesis state machine drives credits, debits, transfers, refunds and idempotent replays over many accounts
and checks, after every step, the ledger invariant and the balances against a model kept in Python."""
import itertools
import uuid

import pytest
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, precondition, rule

from billing.idempotency import idempotency_run, request_fingerprint
from billing.models import BillingAccount, LedgerEntry, TenantFunds
from billing.services.accounts import account_open
from billing.services.ledger import ledger_post, ledger_transfer
from billing.verification import ledger_check
from core.errors import ServiceError
from identity.models import User

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]

amounts = st.integers(min_value=1, max_value=5_000)


def ledger_correct(*, entry_id, amount):
    """A correction of (part of) an entry: the opposite type, referencing it."""
    entry = LedgerEntry.objects.get(pk=entry_id)
    return ledger_post(account_id=entry.account_id, type="debit" if entry.type == "credit" else "credit",
                       amount=amount, corrects=entry)
_names = itertools.count()


class LedgerMachine(RuleBasedStateMachine):
    accounts = Bundle("accounts")

    def __init__(self):
        super().__init__()
        # Each run works inside a savepoint rolled back at teardown: runs never see each other's accounts.
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.balances: dict[uuid.UUID, int] = {}
        self.refundable: dict[uuid.UUID, tuple[uuid.UUID, str, int]] = {}  # entry -> (account, type, remaining)
        self.entry_tenant: dict[uuid.UUID, uuid.UUID | None] = {}
        # Two tenants' funds in each account (billing.tenancy): (account, tenant) -> cents.
        self.tenants = [User.objects.create_user(username=f"machine-tenant-{next(_names)}").pk for _ in range(2)]
        self.funds: dict[tuple[uuid.UUID, uuid.UUID], int] = {}
        self.keys: dict[str, tuple[str, tuple[int, dict]]] = {}  # idempotency key -> (fingerprint, outcome)
        self.scope = f"test:{uuid.uuid4()}"

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    def _open(self, opening: int) -> uuid.UUID:
        account, _ = account_open(user=User.objects.create_user(username=f"machine-{next(_names)}"))
        self.balances[account.pk] = 0
        if opening:
            self._post(account.pk, "credit", opening)
        return account.pk

    def _post(self, account_id, kind, amount, tenant=None, **kwargs):
        entry = ledger_post(account_id=account_id, type=kind, amount=amount, tenant_id=tenant, **kwargs)
        signed = amount if kind == "credit" else -amount
        self.balances[account_id] += signed
        if tenant is not None:
            self.funds[(account_id, tenant)] = self.funds.get((account_id, tenant), 0) + signed
        self.refundable[entry.pk] = (account_id, kind, amount)
        self.entry_tenant[entry.pk] = tenant
        return entry

    def _expect_refusal(self, code, call):
        try:
            call()
        except ServiceError as exc:
            assert exc.code == code, exc.code
        else:
            raise AssertionError(f"expected {code}")

    @initialize(target=accounts, opening=st.integers(min_value=0, max_value=10_000))
    def first_account(self, opening):
        return self._open(opening)

    @rule(target=accounts, opening=st.integers(min_value=0, max_value=10_000))
    def open_account(self, opening):
        return self._open(opening)

    @rule(account=accounts, amount=amounts)
    def credit(self, account, amount):
        self._post(account, "credit", amount)

    @rule(account=accounts, amount=amounts)
    def debit(self, account, amount):
        if self.balances[account] < amount:
            self._expect_refusal("insufficient_funds",
                                 lambda: ledger_post(account_id=account, type="debit", amount=amount))
        else:
            self._post(account, "debit", amount)

    @rule(account=accounts, amount=amounts, which=st.integers(min_value=0, max_value=1))
    def tenant_credit(self, account, amount, which):
        self._post(account, "credit", amount, tenant=self.tenants[which])

    @rule(account=accounts, amount=amounts, which=st.integers(min_value=0, max_value=1))
    def tenant_debit(self, account, amount, which):
        tenant = self.tenants[which]
        if min(self.funds.get((account, tenant), 0), self.balances[account]) < amount:
            self._expect_refusal("insufficient_funds", lambda: ledger_post(account_id=account, type="debit",
                                                                           amount=amount, tenant_id=tenant))
        else:
            self._post(account, "debit", amount, tenant=tenant)

    @rule(source=accounts, destination=accounts, amount=amounts)
    def transfer(self, source, destination, amount):
        def call():
            return ledger_transfer(from_account_id=source, to_account_id=destination, amount=amount)

        if source == destination:
            self._expect_refusal("same_account", call)
        elif self.balances[source] < amount:
            self._expect_refusal("insufficient_funds", call)
        else:
            debit, credit = call()
            self.balances[source] -= amount
            self.balances[destination] += amount
            self.refundable[debit.pk] = (source, "debit", amount)
            self.refundable[credit.pk] = (destination, "credit", amount)

    @precondition(lambda self: self.refundable)
    @rule(data=st.data())
    def refund(self, data):
        entry_id = data.draw(st.sampled_from(list(self.refundable)))  # insertion order: reproducible
        account, kind, remaining = self.refundable[entry_id]
        amount = data.draw(st.integers(min_value=1, max_value=remaining))
        tenant = self.entry_tenant.get(entry_id)  # a correction moves the corrected entry's tenant's funds
        available = self.balances[account]
        if tenant is not None:
            available = min(available, self.funds.get((account, tenant), 0))
        if kind == "credit" and available < amount:
            self._expect_refusal("insufficient_funds", lambda: ledger_correct(entry_id=entry_id, amount=amount))
            return
        ledger_correct(entry_id=entry_id, amount=amount)
        signed = -amount if kind == "credit" else amount
        self.balances[account] += signed
        if tenant is not None:
            self.funds[(account, tenant)] += signed
        if remaining == amount:
            del self.refundable[entry_id]
        else:
            self.refundable[entry_id] = (account, kind, remaining - amount)

    @rule(account=accounts, amount=amounts, key=st.sampled_from(["k1", "k2", "k3"]))
    def idempotent_credit(self, account, amount, key):
        fingerprint = request_fingerprint("POST", "/credits", {"account_id": str(account), "amount": amount})

        def call():
            entry = ledger_post(account_id=account, type="credit", amount=amount)
            return 201, {"entry_id": entry.pk, "balance_after": entry.balance_after}

        seen = self.keys.get(key)
        if seen is not None and seen[0] != fingerprint:
            self._expect_refusal("idempotency_mismatch", lambda: idempotency_run(
                scope=self.scope, key=key, fingerprint=fingerprint, call=call))
            return
        outcome = idempotency_run(scope=self.scope, key=key, fingerprint=fingerprint, call=call)
        if seen is None:
            assert not outcome.replayed and outcome.status == 201
            self.balances[account] += amount
            self.keys[key] = (fingerprint, (outcome.status, outcome.body))
        else:
            assert outcome.replayed and (outcome.status, outcome.body) == seen[1]

    @invariant()
    def ledger_invariant_holds(self):
        report = ledger_check()
        assert report.ok, report.problems
        stored = dict(BillingAccount.objects.filter(pk__in=list(self.balances)).values_list("pk", "balance"))
        assert stored == self.balances
        held = {(a, t): b for a, t, b in TenantFunds.objects.filter(account_id__in=list(self.balances))
                .values_list("account_id", "tenant_id", "balance")}
        assert held == {key: value for key, value in self.funds.items() if key in held or value}


def test_the_ledger_invariant_holds_under_random_operations():
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(LedgerMachine, settings=settings(
        max_examples=30, stateful_step_count=30, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
