"""Audit log figures: appends with 8 concurrent writers, commit-to-chained latency, verification speed.

Each writer is a thread with its own database connection; every event is its own transaction through
``audit_record``, as a service call would make it, with the default after-commit sequencing. A watcher on another
connection notes when each event appears chained; latency is that moment minus the writer's commit.
"""
from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

from bench.harness import Context, measure

WRITERS = 8
PREFILL = 30_000  # verification is timed over a chain at least this long


@dataclass
class AppendRun:
    rate: float
    latencies_ms: list[float]
    used: set[str] = field(default_factory=set)

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _writer(deadline: float, committed: dict, lock: threading.Lock) -> None:
    from django.db import connections, transaction

    from audit.services import audit_record

    mine = {}
    try:
        while time.perf_counter() < deadline:
            stamp: list[float] = []
            with transaction.atomic():
                # Registered before audit_record's own hook, so it runs first after the commit: the commit moment.
                transaction.on_commit(lambda s=stamp: s.append(time.perf_counter()))
                staged = audit_record(
                    "AUDIT_VERIFIED", action="bench", target_type="payment", target_id=uuid.uuid4(),
                    actor_id=uuid.uuid4(), actor_type="user", before={"status": "pending", "amount": 1250},
                    after={"status": "confirmed", "amount": 1250}, metadata={"request_id": uuid.uuid4().hex})
            mine[staged.event_id] = stamp[0]
    finally:
        connections.close_all()
        with lock:
            committed.update(mine)


def _watcher(after: int, stop: threading.Event, seen: dict) -> None:
    from django.db import connection, connections

    last = after
    try:
        with connection.cursor() as cursor:
            while not stop.is_set():
                cursor.execute("SELECT id, sequence FROM audit_events WHERE sequence > %s ORDER BY sequence", [last])
                rows = cursor.fetchall()
                now = time.perf_counter()
                for event_id, sequence in rows:
                    seen[event_id] = now
                    last = sequence
                if not rows:
                    time.sleep(0.005)
    finally:
        connections.close_all()


def _append_run(ctx: Context) -> AppendRun:
    from django.db import connections

    from audit.selectors import chain_head
    from audit.services import audit_sequence

    audit_sequence()
    head = chain_head()
    committed: dict = {}
    seen: dict = {}
    lock = threading.Lock()
    stop = threading.Event()
    watcher = threading.Thread(target=_watcher, args=(head[0] if head else 0, stop, seen))
    watcher.start()
    started = time.perf_counter()
    deadline = started + ctx.seconds
    writers = [threading.Thread(target=_writer, args=(deadline, committed, lock)) for _ in range(WRITERS)]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    elapsed = time.perf_counter() - started
    settle = time.perf_counter() + 10
    while len(seen) < len(committed) and time.perf_counter() < settle:
        time.sleep(0.01)
    stop.set()
    watcher.join()
    connections.close_all()
    missing = [e for e in committed if e not in seen]
    if missing:
        raise RuntimeError(f"{len(missing)} committed audit events were not chained within 10 s")
    return AppendRun(rate=len(committed) / elapsed,
                     latencies_ms=[(seen[e] - t) * 1000 for e, t in committed.items()])


def _run_for(ctx: Context, name: str) -> AppendRun:
    """One append run per round, shared by the measures that report on it."""
    run = ctx.state.get("audit_run")
    if run is None or name in run.used:
        run = _append_run(ctx)
        ctx.state["audit_run"] = run
    run.used.add(name)
    return run


@measure("audit_append_8w", unit="events/s", baseline="B_c1", goal=(">=", 1.5), group="audit",
         description="audit_record, 8 writers on their own connections, one transaction per event")
def audit_append_8w(ctx: Context) -> float:
    return _run_for(ctx, "audit_append_8w").rate


@measure("audit_append_8w_vs_c8", unit="events/s", baseline="B_c8", group="audit",
         description="the same appends compared with pgbench INSERT at 8 clients")
def audit_append_8w_vs_c8(ctx: Context) -> float:
    return _run_for(ctx, "audit_append_8w_vs_c8").rate


@measure("audit_chain_latency_p50", unit="ms", higher_is_better=False, group="audit",
         description="commit to chained in audit_events, median, at the 8-writer load (goal < 1000 ms)")
def audit_chain_latency_p50(ctx: Context) -> float:
    return _run_for(ctx, "audit_chain_latency_p50").percentile(50)


@measure("audit_chain_latency_p99", unit="ms", higher_is_better=False, group="audit",
         description="commit to chained in audit_events, 99th percentile, at the 8-writer load (goal < 1000 ms)")
def audit_chain_latency_p99(ctx: Context) -> float:
    return _run_for(ctx, "audit_chain_latency_p99").percentile(99)


def _prefill() -> None:
    """Stage synthetic events in bulk (server-side) and chain them, so verification runs over a long chain."""
    from django.db import connection

    from audit.selectors import chain_head
    from audit.services import audit_sequence

    head = chain_head()
    missing = PREFILL - (head[0] if head else 0)
    if missing <= 0:
        return
    with connection.cursor() as cursor:
        cursor.execute("""
            INSERT INTO audit_staging (event_id, type, actor_id, actor_type, target_id, target_type, action, before,
                                       after, metadata, reason, ip, user_agent, created_at)
            SELECT gen_random_uuid(), 'AUDIT_VERIFIED', gen_random_uuid(), 'user', gen_random_uuid(), 'payment',
                   'bench', '{"amount":1250,"status":"pending"}', '{"amount":1250,"status":"confirmed"}',
                   '{"request_id":"' || md5(g::text) || '"}', '', '127.0.0.1', 'bench/1', now()
            FROM generate_series(1, %s) AS g
        """, [missing])
    audit_sequence(batch_size=5000)


@measure("audit_verify", unit="events/s", baseline="audit_append_8w", goal=(">=", 20.0), group="audit",
         description="audit_verify's chain_verify over the whole chain, compared with the 8-writer append rate")
def audit_verify(ctx: Context) -> float:
    from audit.verification import chain_verify

    if not ctx.state.get("audit_prefilled"):
        _prefill()
        ctx.state["audit_prefilled"] = True
    result = chain_verify()
    if not result.ok:
        raise RuntimeError(f"the bench chain does not verify: {result.problem}")
    return result.rate
