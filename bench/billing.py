"""The ledger: postings and transfers per second through the services against pgbench running the same SQL shape.

B_led and B_hot are pgbench scripts of one posting as the database sees it: lock the account row
(``SELECT … FOR UPDATE``), update its balance and sequence, insert the ledger entry, commit; 8 clients, over
10,000 accounts (B_led) or all on one account (B_hot). The project measures run ``ledger_post`` in 8 worker
processes over the same accounts: the kill switch check, then on PostgreSQL one prepared statement that updates the
balance under the row lock (refusing it out of bounds), writes the entry with its balance after and stages the audit
event (billing.services.ledger). Credits of 1 to 100 cents, so no posting is refused in either.

B_xfer is pgbench calling a PL/pgSQL function of a transfer's shape, one call per transaction: both account rows
locked in id order, two balance updates, two entry inserts; 8 clients over 10,000 funded accounts. The project
measures move 1 to 100 cents between random pairs of those accounts: ``billing_transfer_8w`` calls
``ledger_transfer`` in 8 worker processes with the default settings (each process chains the audit events after its
commit), ``billing_transfer_http`` posts one transfer per request to ``POST /api/v1/billing/transfers`` with app
credentials and a fresh ``Idempotency-Key`` (wrk, the bench's gunicorn settings), as the accounts' tenant.
"""
from __future__ import annotations

import base64
import os
import subprocess
import sys
import uuid

import psycopg

from bench.baselines import _pgbench
from bench.harness import ROOT, Context, measure
from bench.load import start_gunicorn, wrk
from bench.workers import run_workers

ACCOUNTS = 10_000
HOT = ACCOUNTS + 1
WORKERS = 8
PREFIX = "00000000-0000-4000-8000-"
# The transfer measures' own accounts, funded (one opening entry each, the bench tenant's funds) so that no transfer
# of 1 to 100 cents is ever refused.
TRANSFER_PREFIX = "00000000-0000-4000-a000-"
TRANSFER_FUNDS = 100_000_000_000


def account_uuid(n: int) -> uuid.UUID:
    """Bench accounts have ids computable in SQL too: ``(PREFIX || lpad(n, 12, '0'))::uuid``."""
    return uuid.UUID(f"{PREFIX}{n:012d}")


def transfer_account_uuid(n: int) -> uuid.UUID:
    return uuid.UUID(f"{TRANSFER_PREFIX}{n:012d}")


def _setup(ctx: Context) -> None:
    if ctx.state.get("billing_accounts"):
        return
    from billing.models import BillingAccount
    from identity.models import User

    users = User.objects.bulk_create([User(username=f"bench-billing-{n}") for n in range(1, HOT + 1)],
                                     batch_size=2000)
    BillingAccount.objects.bulk_create([BillingAccount(id=account_uuid(n), user=user)
                                        for n, user in enumerate(users, start=1)], batch_size=2000)
    with psycopg.connect(ctx.database_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE users")
        conn.execute("VACUUM ANALYZE billing_accounts")
    ctx.state["billing_accounts"] = True


def _script(n_expression: str) -> str:
    account = f"('{PREFIX}' || lpad(:n::text, 12, '0'))::uuid"
    return f"""{n_expression}
\\set amount random(1, 100)
BEGIN;
SELECT balance, last_sequence FROM billing_accounts WHERE account_id = {account} FOR UPDATE \\gset
UPDATE billing_accounts SET balance = :balance + :amount, last_sequence = :last_sequence + 1, updated_at = now()
  WHERE account_id = {account};
INSERT INTO ledger_entries (entry_id, account_id, type, amount, description, reference_id, balance_after, sequence,
  created_at) VALUES (gen_random_uuid(), {account}, 'credit', :amount, 'bench', '', :balance + :amount,
  :last_sequence + 1, now());
END;
""".replace("\n  ", " ")


@measure("B_led", unit="tx/s", group="billing",
         description="pgbench: lock account row, update balance, insert entry; 8 clients, 10,000 accounts")
def b_led(ctx: Context) -> float:
    _setup(ctx)
    return _pgbench(ctx, _script(f"\\set n random(1, {ACCOUNTS})"), WORKERS)


@measure("B_hot", unit="tx/s", group="billing",
         description="pgbench: the same posting, 8 clients, all on one account")
def b_hot(ctx: Context) -> float:
    _setup(ctx)
    return _pgbench(ctx, _script(f"\\set n {HOT}"), WORKERS)


def _postings(ctx: Context, mode: str, *, audit: str = "deferred") -> float:
    """Postings per second of 8 worker processes calling ``ledger_post`` (started, then released together).

    Each posting stages its audit event in its own transaction in every variant; what differs is when the staged
    events are chained (hashed into ``audit_events``): ``deferred`` chains them after the sample (what the posting
    path itself sustains; ``AUDIT_SEQUENCE_ON_COMMIT=false``), ``sequencer`` runs one ``audit_sequencer`` process
    during the sample, ``on_commit`` has every posting process chain after its own commit (the default setting).
    """
    _setup(ctx)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "LOG_LEVEL": "WARNING",
           "AUDIT_SEQUENCE_ON_COMMIT": "true" if audit == "on_commit" else "false"}
    sequencer = None if audit != "sequencer" else subprocess.Popen(
        [sys.executable, "manage.py", "audit_sequencer", "--interval", "0.05"], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        rate = 0.0
        for out in run_workers("bench.billing_worker", [[mode, str(ctx.seconds), str(i)] for i in range(WORKERS)],
                               env, ctx.seconds + 120):
            count, elapsed = out.split()[-2:]
            rate += int(count) / float(elapsed)
    finally:
        if sequencer is not None:
            sequencer.terminate()
            try:
                sequencer.wait(timeout=30)
            except subprocess.TimeoutExpired:
                sequencer.kill()
                sequencer.wait()
    # Chain whatever is still staged, outside the measured time, so no sample starts with a backlog.
    subprocess.run([sys.executable, "manage.py", "audit_sequencer", "--once"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return rate


@measure("billing_post_8w", unit="postings/s", baseline="B_led", goal=(">=", 0.35), group="billing",
         description="ledger_post, 8 worker processes, random accounts among 10,000 (audit chained after)")
def billing_post_8w(ctx: Context) -> float:
    return _postings(ctx, "spread")


@measure("billing_post_hot_8w", unit="postings/s", baseline="B_hot", goal=(">=", 0.5), group="billing",
         description="ledger_post, 8 worker processes, all on one account (audit chained after)")
def billing_post_hot_8w(ctx: Context) -> float:
    return _postings(ctx, "hot")


@measure("billing_post_8w_sequencer", unit="postings/s", baseline="B_led", group="billing",
         description="the same over 10,000 accounts with an audit_sequencer process chaining during the sample")
def billing_post_8w_sequencer(ctx: Context) -> float:
    return _postings(ctx, "spread", audit="sequencer")


@measure("billing_post_hot_8w_sequencer", unit="postings/s", baseline="B_hot", group="billing",
         description="the same on one account with an audit_sequencer process chaining during the sample")
def billing_post_hot_8w_sequencer(ctx: Context) -> float:
    return _postings(ctx, "hot", audit="sequencer")


@measure("billing_post_8w_chain_on_commit", unit="postings/s", baseline="B_led", group="billing",
         description="the same over 10,000 accounts, each posting process chaining audit events after commit")
def billing_post_8w_chain_on_commit(ctx: Context) -> float:
    return _postings(ctx, "spread", audit="on_commit")


# --- transfers ------------------------------------------------------------------------------------------------------

# B_xfer's function: what a transfer is to the database, without the project's checks, refusals or audit events.
_BENCH_TRANSFER_FUNCTION = """
CREATE OR REPLACE FUNCTION bench_transfer(p_from uuid, p_to uuid, p_amount bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_from record;
    v_to record;
BEGIN
    PERFORM 1 FROM billing_accounts WHERE account_id IN (p_from, p_to) ORDER BY account_id FOR UPDATE;
    UPDATE billing_accounts SET balance = balance - p_amount, last_sequence = last_sequence + 1, updated_at = now()
    WHERE account_id = p_from RETURNING balance, last_sequence INTO v_from;
    UPDATE billing_accounts SET balance = balance + p_amount, last_sequence = last_sequence + 1, updated_at = now()
    WHERE account_id = p_to RETURNING balance, last_sequence INTO v_to;
    INSERT INTO ledger_entries (entry_id, account_id, type, amount, description, reference_id, balance_after,
                                sequence, created_at)
    VALUES (gen_random_uuid(), p_from, 'debit', p_amount, 'bench', '', v_from.balance, v_from.last_sequence, now()),
           (gen_random_uuid(), p_to, 'credit', p_amount, 'bench', '', v_to.balance, v_to.last_sequence, now());
END;
$$;
"""


def _transfer_setup(ctx: Context) -> dict:
    """10,000 funded accounts of persons proven to one bench application, whose owner's funds they hold, and that
    application's billing credential; written in bulk."""
    if "billing_transfers" in ctx.state:
        return ctx.state["billing_transfers"]
    from django.utils import timezone

    from billing.models import BillingAccount, LedgerEntry, TenantFunds
    from identity.models import AppUser, User
    from identity.services.apps import app_create, credential_issue

    now = timezone.now()
    tenant = User.objects.create_user(username="bench-transfer-tenant")
    app = app_create(owner=tenant, name="Bench transfers")
    issued = credential_issue(app=app, name="bench", scopes=["billing"])
    users = User.objects.bulk_create([User(username=f"bench-transfer-{n}") for n in range(1, ACCOUNTS + 1)],
                                     batch_size=2000)
    AppUser.objects.bulk_create([AppUser(app=app, user=u, external_user_id=f"bench-{n}", verified_at=now)
                                 for n, u in enumerate(users, start=1)], batch_size=2000)
    accounts = BillingAccount.objects.bulk_create(
        [BillingAccount(id=transfer_account_uuid(n), user=u, balance=TRANSFER_FUNDS, last_sequence=1)
         for n, u in enumerate(users, start=1)], batch_size=2000)
    LedgerEntry.objects.bulk_create([LedgerEntry(account=a, type="credit", amount=TRANSFER_FUNDS,
                                                 balance_after=TRANSFER_FUNDS, sequence=1, description="bench funding",
                                                 tenant=tenant, tenant_balance_after=TRANSFER_FUNDS, created_at=now)
                                     for a in accounts], batch_size=2000)
    TenantFunds.objects.bulk_create([TenantFunds(account=a, tenant=tenant, balance=TRANSFER_FUNDS) for a in accounts],
                                    batch_size=2000)
    with psycopg.connect(ctx.database_url, autocommit=True) as conn:
        conn.execute(_BENCH_TRANSFER_FUNCTION)
        for table in ("users", "app_users", "billing_accounts", "ledger_entries", "billing_tenant_funds"):
            conn.execute(f"VACUUM ANALYZE {table}")
    token = base64.b64encode(f"{issued.credential.public_key}:{issued.secret}".encode()).decode()
    ctx.state["billing_transfers"] = {"authorization": f"Basic {token}"}
    return ctx.state["billing_transfers"]


@measure("B_xfer", unit="tx/s", group="billing",
         description="pgbench: a PL/pgSQL function locking two accounts in id order, two balance updates, two entry "
                     "inserts; 8 clients, 10,000 accounts")
def b_xfer(ctx: Context) -> float:
    _transfer_setup(ctx)
    account = f"('{TRANSFER_PREFIX}' || lpad(:{{}}::text, 12, '0'))::uuid"
    script = (f"\\set a random(1, {ACCOUNTS})\n"
              f"\\set b random(1, {ACCOUNTS - 1})\n"
              f"\\set b (:a + :b - 1) % {ACCOUNTS} + 1\n"  # any other account
              "\\set amount random(1, 100)\n"
              f"SELECT bench_transfer({account.format('a')}, {account.format('b')}, :amount);\n")
    return _pgbench(ctx, script, WORKERS)


@measure("billing_transfer_8w", unit="transfers/s", baseline="B_xfer", goal=(">=", 0.8), group="billing",
         description="ledger_transfer, 8 worker processes, random pairs of 10,000 accounts (default settings: each "
                     "process chains the audit events after its commit)")
def billing_transfer_8w(ctx: Context) -> float:
    _transfer_setup(ctx)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "LOG_LEVEL": "WARNING"}
    env.pop("AUDIT_SEQUENCE_ON_COMMIT", None)  # the default: chained after each commit
    rate = 0.0
    for out in run_workers("bench.billing_worker", [["transfer", str(ctx.seconds), str(i)] for i in range(WORKERS)],
                           env, ctx.seconds + 120):
        count, elapsed = out.split()[-2:]
        rate += int(count) / float(elapsed)
    subprocess.run([sys.executable, "manage.py", "audit_sequencer", "--once"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return rate


def _transfer_script(authorization: str) -> str:
    """wrk: one transfer per request between two random accounts, each request with a key of its own."""
    return f"""
local prefix = "{TRANSFER_PREFIX}"
local accounts = {ACCOUNTS}
local next_thread = 0
function setup(thread)
  thread:set("id", next_thread)
  next_thread = next_thread + 1
end
function init(args)
  math.randomseed(os.time() * 1000 + id)
  counter = 0
  run = tostring(os.time()) .. "-" .. tostring(math.random(1, 1000000000))
end
local function account(n)
  return prefix .. string.format("%012d", n)
end
function request()
  counter = counter + 1
  local a = math.random(1, accounts)
  local b = (a + math.random(1, accounts - 1) - 1) % accounts + 1
  local body = '{{"transfers":[{{"from_account_id":"' .. account(a) .. '","to_account_id":"' .. account(b) ..
               '","amount":' .. math.random(1, 100) .. '}}]}}'
  local headers = {{["Content-Type"] = "application/json", ["Authorization"] = "{authorization}",
                   ["Idempotency-Key"] = "bench-" .. run .. "-" .. id .. "-" .. counter}}
  return wrk.format("POST", "/api/v1/billing/transfers", headers, body)
end
"""


@measure("billing_transfer_http", unit="req/s", baseline="B_xfer", group="billing",
         description="POST /api/v1/billing/transfers, one transfer per request (app credentials, Idempotency-Key, "
                     "the tenant's funds), wrk on loopback")
def billing_transfer_http(ctx: Context) -> float:
    setup = _transfer_setup(ctx)
    if "billing_http_url" not in ctx.state:
        url = start_gunicorn("prostqs.wsgi:application")
        # Each worker loads the API modules and prepares its statements on its first requests, which on a busy
        # machine takes seconds: warm them up until the server answers at a steady pace.
        for _ in range(10):
            if wrk(url + "/api/v1/billing/transfers", 3, lua=_transfer_script(setup["authorization"])) >= 10:
                break
        ctx.state["billing_http_url"] = url
    rate = wrk(ctx.state["billing_http_url"] + "/api/v1/billing/transfers", ctx.seconds,
               lua=_transfer_script(setup["authorization"]))
    subprocess.run([sys.executable, "manage.py", "audit_sequencer", "--once"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return rate
