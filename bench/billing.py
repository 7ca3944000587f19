"""The ledger: postings per second through ``ledger_post`` against pgbench running the same SQL shape.

B_led and B_hot are pgbench scripts of one posting as the database sees it: lock the account row
(``SELECT … FOR UPDATE``), update its balance and sequence, insert the ledger entry, commit; 8 clients, over
10,000 accounts (B_led) or all on one account (B_hot). The project measures run ``ledger_post`` in 8 worker
processes over the same accounts: the kill switch check, then on PostgreSQL one prepared statement that updates the
balance under the row lock (refusing it out of bounds), writes the entry with its balance after and stages the audit
event (billing.services.ledger). Credits of 1 to 100 cents, so no posting is refused in either.
"""
from __future__ import annotations

import os
import subprocess
import sys
import uuid

import psycopg

from bench.baselines import _pgbench
from bench.harness import ROOT, Context, measure
from bench.workers import run_workers

ACCOUNTS = 10_000
HOT = ACCOUNTS + 1
WORKERS = 8
PREFIX = "00000000-0000-4000-8000-"


def account_uuid(n: int) -> uuid.UUID:
    """Bench accounts have ids computable in SQL too: ``(PREFIX || lpad(n, 12, '0'))::uuid``."""
    return uuid.UUID(f"{PREFIX}{n:012d}")


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
