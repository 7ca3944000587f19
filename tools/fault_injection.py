#!/usr/bin/env python3
"""Fault injection on a private PostgreSQL cluster and a private Redis (never the shared servers).

1. ``pg_restart``: spends and payouts sent by several threads to gunicorn while PostgreSQL restarts: every request
   is committed whole (201 and all its rows) or failed whole (no row); a retry with the same key completes it
   once; ``verify_all`` passes.
2. ``redis_down``: Redis stopped: the API keeps answering and its jobs wait in the database (the outbox); Redis
   back: Celery picks them up and every one completes.
3. ``celery_kill``: 100 ``queue_probe`` jobs while the Celery worker is killed with SIGKILL at random moments and
   restarted: each probe ran exactly once or is a dead letter.

    python tools/fault_injection.py [--seed 1] [--only pg_restart,redis_down,celery_kill] [--requests 120]

Runs as root (initdb runs as the ``postgres`` user through runuser). Prints the figures; exit 1 on a violation.
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import glob
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from prod_run import PY, ROOT, Processes, free_port, manage, wait_port, wait_until


def log(message: str) -> None:
    print(f"[fault_injection {time.strftime('%H:%M:%S')}] {message}", flush=True)


PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1] if glob.glob("/usr/lib/postgresql/*/bin") else ""


class PrivatePostgres:
    def __init__(self, work: Path) -> None:
        self.dir = work / "pgdata"
        self.sock = work / "pgsock"
        self.port = free_port()
        self.log = work / "postgres.log"
        for path in (self.sock,):
            path.mkdir(parents=True, exist_ok=True)
        shutil.chown(work, "postgres")
        shutil.chown(self.sock, "postgres")
        self._as_postgres([f"{PG_BIN}/initdb", "-D", str(self.dir), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                           "--no-sync"])
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/prostqs_faults"

    def _as_postgres(self, argv: list[str]) -> None:
        subprocess.run(["/usr/sbin/runuser", "-u", "postgres", "--", *argv],  # noqa: S603 - our own commands
                       check=True, capture_output=True)

    def pg_ctl(self, action: str) -> None:
        options = f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres([f"{PG_BIN}/pg_ctl", "-D", str(self.dir), "-o", options, "-l", str(self.log), "-w",
                           "-m", "fast", action])

    def createdb(self) -> None:
        import psycopg

        with psycopg.connect(f"postgres://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE prostqs_faults")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.pg_ctl("stop")


def world(env: dict) -> dict:
    out = manage(env, "shell", "--no-imports", "-c", (
        "import json; from devtools.world import build_tenant; t = build_tenant('faults');"
        "print('WORLD ' + json.dumps({k: str(v) for k, v in vars(t).items() if not isinstance(v, dict)}))"),
        capture=True)
    return json.loads(out.stdout.split("WORLD ", 1)[1])


def sql(env: dict, query: str, params: tuple = ()) -> list:
    import psycopg

    with psycopg.connect(env["DATABASE_URL"]) as conn:
        return conn.execute(query, params).fetchall()


# ---- 1. PostgreSQL restarted under load ------------------------------------------------------------------------

def pg_restart(env: dict, pg: PrivatePostgres, processes: Processes, rng: random.Random, requests_total: int,
               figures: dict) -> None:
    import requests

    w = world(env)
    port = free_port()
    processes.start("gunicorn-pg", [PY, "-m", "gunicorn", "prostqs.wsgi:application", "--workers", "3", "--bind",
                                    f"127.0.0.1:{port}", "--access-logfile", "-", "--timeout", "30"], env)
    wait_port(port)
    base = f"http://127.0.0.1:{port}"
    sent: list[dict] = []
    lock = threading.Lock()
    plan = [("spend" if rng.random() < 0.6 else "payout", rng.randint(1, 900), uuid.UUID(int=rng.getrandbits(128)))
            for _ in range(requests_total * 3)]

    def send(kind: str, amount: int, key: uuid.UUID) -> dict:
        session = requests.Session()
        headers = {"Authorization": w["header"], "Idempotency-Key": str(key)}
        if kind == "spend":
            url = f"{base}/api/v1/ads/campaigns/{w['campaign_id']}/spend"
            body = {"amount": amount, "quantity": 1, "unit": "click"}
        else:
            url = f"{base}/api/v1/billing/payouts"
            body = {"account_id": w["billing_account_id"], "amount": amount,
                    "destination": {"type": "pix", "key": "faults@example.com"}}
        try:
            response = session.post(url, json=body, headers=headers, timeout=30)
            return {"kind": kind, "key": str(key), "amount": amount, "status": response.status_code,
                    "id": response.json().get("id") if response.status_code == 201 else None}
        except requests.RequestException as exc:
            return {"kind": kind, "key": str(key), "amount": amount, "status": 0, "error": type(exc).__name__}

    stop = threading.Event()
    cursor = iter(plan)

    def worker() -> None:
        while not stop.is_set():
            with lock:
                item = next(cursor, None)
            if item is None:
                return
            began = time.monotonic()
            result = send(*item)
            result["at"], result["took"] = time.monotonic(), round(time.monotonic() - began, 2)
            with lock:
                sent.append(result)
            time.sleep(0.02)

    for _ in range(12):   # warm every gunicorn worker up (imports, first connections) before the clock starts
        requests.get(f"{base}/api/v1/ads/limits", headers={"Authorization": w["header"]}, timeout=60)
    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    time.sleep(1.5 + rng.random())
    log("stopping the private PostgreSQL under load (1.5 s down), then starting it again")
    down = time.monotonic()
    pg.pg_ctl("stop")
    time.sleep(1.5)
    pg.pg_ctl("start")
    up = time.monotonic()
    figures["pg_downtime_seconds"] = round(up - down, 2)
    wait_until("the load to go on after the restart", lambda: len(sent) >= requests_total
               and time.monotonic() > up + 2, timeout=60)
    stop.set()
    for thread in threads:
        thread.join()
    figures["pg_slowest_request_seconds"] = max((r["took"] for r in sent), default=0)
    figures["pg_requests_during_outage"] = sum(1 for r in sent if down <= r["at"] <= up + 0.5)

    failed = [r for r in sent if r["status"] != 201]
    committed = [r for r in sent if r["status"] == 201]
    problems = []
    for r in sent:
        if r["kind"] != "spend":
            continue
        count, amount = sql(env, "SELECT count(*), coalesce(sum(e.amount), 0) FROM ad_spend_events s JOIN "
                                 "ledger_entries e ON e.entry_id = s.ledger_entry_id WHERE s.status = 'applied' AND "
                                 "s.idempotency_key LIKE %s", (f"%:{r['key']}",))[0]
        if r["status"] == 201 and (count, amount) != (1, r["amount"]):
            problems.append(f"spend {r['key']} answered 201 but has {count} applied event(s) of {amount}")
        if r["status"] != 201 and count:
            problems.append(f"spend {r['key']} answered {r['status']} yet {count} applied event(s) exist")
    # Retry what failed, with the same keys: each completes once (or replays its first answer).
    retried = [send(r["kind"], r["amount"], uuid.UUID(r["key"])) for r in failed]
    figures["pg_retry_statuses"] = _count(r["status"] for r in retried)
    for r in committed + retried:
        if r["kind"] == "spend" and r["status"] == 201:
            count = sql(env, "SELECT count(*) FROM ad_spend_events WHERE status = 'applied' AND idempotency_key "
                             "LIKE %s", (f"%:{r['key']}",))[0][0]
            if count != 1:
                problems.append(f"spend {r['key']}: {count} applied events after the retries")
    # Payouts: one row (with its hold) per key answered 201, whether first or on the retry; none for the others.
    payouts = {row[0]: row[1] for row in sql(env, "SELECT payout_id::text, amount FROM payouts WHERE payout_id <> %s",
                                             (w["payout_id"],))}
    keys_201 = {r["key"]: r for r in committed + retried if r["kind"] == "payout" and r["status"] == 201}
    for r in keys_201.values():
        if payouts.get(r["id"]) != r["amount"]:
            problems.append(f"payout {r['key']} answered 201 but its row is missing or differs")
    if len(payouts) != len(keys_201):
        problems.append(f"{len(payouts)} payout rows for {len(keys_201)} keys answered 201")
    processes.stop({"gunicorn-pg"})
    figures["pg_requests"] = len(sent)
    figures["pg_statuses"] = _count(r["status"] for r in sent)
    figures["pg_failed_during_restart"] = len(failed)
    figures["pg_problems"] = problems
    if problems:
        raise RuntimeError("pg_restart: " + "; ".join(problems[:5]))


def _replayed(committed: list[dict], retried: list[dict]) -> int:
    first = {r["key"] for r in committed if r["kind"] == "payout"}
    return sum(1 for r in retried if r["kind"] == "payout" and r["status"] == 201 and r["key"] in first)


def _count(values) -> dict:
    out: dict = {}
    for value in values:
        out[str(value)] = out.get(str(value), 0) + 1
    return dict(sorted(out.items()))


# ---- 2. Redis stopped ------------------------------------------------------------------------------------------

def redis_down(env: dict, work: Path, processes: Processes, figures: dict) -> None:
    import requests

    port = free_port()
    redis_argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                  "--dir", str(work)]
    redis_proc = processes.start("redis", redis_argv, env)
    wait_port(port)
    # A dispatch task already running when Redis stops goes on claiming until it is idle or its budget is spent; a
    # short budget lets the scenario wait that one out before it checks that new jobs wait in the outbox.
    dispatch_budget = 2.0
    renv = {**env, "REDIS_URL": f"redis://127.0.0.1:{port}/0", "OTP_SENDER": "file",
            "OTP_FILE_PATH": str(work / "otp.jsonl"), "JOBS_DISPATCH_SECONDS": str(dispatch_budget)}
    web = free_port()
    processes.start("gunicorn-redis", [PY, "-m", "gunicorn", "prostqs.wsgi:application", "--workers", "2", "--bind",
                                       f"127.0.0.1:{web}", "--timeout", "30"], renv)
    processes.start("celery-worker-redis", [PY, "-m", "celery", "-A", "prostqs", "worker", "--concurrency", "1",
                                            "--without-gossip", "--without-mingle", "--loglevel", "INFO"], renv)
    processes.start("celery-beat-redis", [PY, "-m", "celery", "-A", "prostqs", "beat", "--loglevel", "INFO",
                                          "--schedule", str(work / "beat-redis")], renv)
    wait_port(web)
    base = f"http://127.0.0.1:{web}"
    time.sleep(2)
    redis_proc.terminate()
    redis_proc.wait(timeout=10)
    log("private Redis stopped")
    time.sleep(dispatch_budget + 1)  # no dispatch can start without Redis; the last one started has ended
    health = requests.get(f"{base}/healthz", timeout=10)
    figures["redis_down_healthz"] = f"{health.status_code} {health.json().get('redis')}"
    phones = [f"+55119777{n:05d}" for n in range(20)]
    statuses = []
    started_at = time.time()
    for phone in phones:
        response = requests.post(f"{base}/api/v1/identity/otp/start", json={"phone": phone, "channel": "sms"},
                                 timeout=30)
        statuses.append(response.status_code)
    figures["redis_down_api_statuses"] = _count(statuses)
    if any(s != 201 for s in statuses):
        raise RuntimeError(f"redis_down: the API did not keep working without Redis: {statuses}")
    waiting = sql(renv, "SELECT count(*) FROM jobs WHERE type = 'otp_send' AND status = 'pending'")[0][0]
    figures["redis_down_jobs_waiting_in_outbox"] = waiting
    if waiting < len(phones):
        raise RuntimeError(f"redis_down: {waiting} otp_send jobs wait in the outbox, expected {len(phones)}")
    time.sleep(3)
    log("private Redis back")
    processes.start("redis-again", redis_argv, env)
    wait_port(port)
    wait_until("the outbox to drain through Celery", lambda: sql(
        renv, "SELECT count(*) FROM jobs WHERE type = 'otp_send' AND status <> 'done'")[0][0] == 0, timeout=120)
    sent = sum(1 for line in (work / "otp.jsonl").read_text().splitlines() if json.loads(line)["to"] in phones)
    figures["redis_back_jobs_done"] = sent
    figures["redis_catch_up_seconds"] = round(time.time() - started_at, 1)
    if sent != len(phones):
        raise RuntimeError(f"redis_down: {sent} of {len(phones)} codes sent after Redis came back")
    # This deployment's workers would otherwise go on claiming jobs from the same database in the next scenario.
    processes.stop({"gunicorn-redis", "celery-worker-redis", "celery-beat-redis", "redis", "redis-again"})


def done_count(env: dict) -> int:
    return sql(env, "SELECT count(*) FROM jobs WHERE type = 'queue_probe' AND status = 'done'")[0][0]


# ---- 3. Celery workers killed ----------------------------------------------------------------------------------

def celery_kill(env: dict, work: Path, processes: Processes, rng: random.Random, jobs_total: int,
                figures: dict) -> None:
    import signal

    port = free_port()
    processes.start("redis-kill", ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                   "--appendonly", "no", "--dir", str(work)], env)
    wait_port(port)
    kenv = {**env, "REDIS_URL": f"redis://127.0.0.1:{port}/0", "JOBS_LEASE_SECONDS": "3",
            "JOBS_REAP_SECONDS": "1", "JOBS_DISPATCH_SECONDS": "2", "CELERY_VISIBILITY_TIMEOUT": "1000",
            "JOBS_RETRY_BASE_SECONDS": "0.2", "JOBS_RETRY_MAX_SECONDS": "1", "JOBS_BATCH_SIZE": "3"}
    probe_ids = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(jobs_total)]
    manage(kenv, "shell", "--no-imports", "-c", (
        "from django.db import transaction; from infrastructure.services.jobs import job_enqueue\n"
        "with transaction.atomic():\n"
        + "".join(f"    job_enqueue('queue_probe', payload={{'probe_id': '{p}', 'sleep': 0.25}})\n"
                  for p in probe_ids)))
    processes.start("celery-beat-kill", [PY, "-m", "celery", "-A", "prostqs", "beat", "--loglevel", "INFO",
                                         "--schedule", str(work / "beat-kill")], kenv)
    kills = 0
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        worker = processes.start(f"celery-worker-kill-{kills}", [
            PY, "-m", "celery", "-A", "prostqs", "worker", "--concurrency", "2", "--without-gossip",
            "--without-mingle", "--loglevel", "INFO"], kenv)
        remaining = sql(kenv, "SELECT count(*) FROM jobs WHERE type = 'queue_probe' AND status IN "
                              "('pending', 'processing')")[0][0]
        if remaining == 0:
            break
        if kills >= 6:
            wait_until("the last probes", lambda: sql(kenv, "SELECT count(*) FROM jobs WHERE type = 'queue_probe' "
                                                            "AND status IN ('pending', 'processing')")[0][0] == 0,
                       timeout=120)
            break
        # Kill it while it works: once it has finished a probe or two, at a random moment.
        before = done_count(kenv)
        with contextlib.suppress(RuntimeError):
            wait_until("the worker to start on the probes", lambda b=before: done_count(kenv) > b, timeout=30)
        time.sleep(rng.random() * 1.2)
        os.killpg(worker.pid, signal.SIGKILL)   # the worker and its pool processes, mid-job
        worker.wait(timeout=10)
        kills += 1
        log(f"Celery worker killed with SIGKILL ({kills})")
    rows = sql(kenv, "SELECT status, count(*) FROM jobs WHERE type = 'queue_probe' GROUP BY status")
    figures["celery_kill_jobs"] = dict(rows)
    figures["celery_kill_jobs_interrupted"] = sql(kenv, "SELECT count(*) FROM jobs WHERE type = 'queue_probe' "
                                                        "AND attempts > 1")[0][0]
    figures["celery_kills"] = kills
    effects = dict(sql(kenv, "SELECT target_id::text, count(*) FROM (SELECT target_id FROM audit_events WHERE type = "
                             "'QUEUE_PROBE_RAN' UNION ALL SELECT target_id FROM audit_staging WHERE type = "
                             "'QUEUE_PROBE_RAN') t GROUP BY target_id"))
    dead = {row[0] for row in sql(kenv, "SELECT payload->>'probe_id' FROM dead_letter_jobs WHERE type = 'queue_probe'")}
    twice = [p for p in probe_ids if effects.get(p, 0) > 1]
    missing = [p for p in probe_ids if effects.get(p, 0) == 0 and p not in dead]
    figures["celery_kill_effects_once"] = sum(1 for p in probe_ids if effects.get(p, 0) == 1)
    figures["celery_kill_dead_letters"] = len(dead)
    if twice or missing:
        raise RuntimeError(f"celery_kill: {len(twice)} probes ran twice, {len(missing)} neither ran nor "
                           f"dead-lettered")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    parser.add_argument("--only", default="pg_restart,redis_down,celery_kill")
    parser.add_argument("--requests", type=int, default=120)
    parser.add_argument("--jobs", type=int, default=100)
    args = parser.parse_args()
    if not PG_BIN:
        print("PostgreSQL's server binaries are not installed", file=sys.stderr)
        return 2
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="prostqs-faults-"))
    processes = Processes(work)
    figures: dict = {"seed": args.seed}
    pg = None
    failed = False
    started = time.monotonic()
    try:
        pg = PrivatePostgres(work)
        pg.pg_ctl("start")
        pg.createdb()
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CI")}
        env.update({"DEBUG": "true", "DATABASE_URL": pg.url, "REDIS_URL": "", "DB_CONN_MAX_AGE": "60",
                    "SECRETS_MASTER_KEYS": "k1:" + base64.b64encode(os.urandom(32)).decode(),
                    "AUDIT_CHECKPOINT_DIR": str(work / "checkpoints"), "PYTHONUNBUFFERED": "1"})
        manage(env, "migrate", "--no-input", "-v0")
        log(f"private PostgreSQL on port {pg.port} ({work}), migrated; seed {args.seed}")
        faults = 0
        for name in args.only.split(","):
            log(f"fault: {name}")
            if name == "pg_restart":
                pg_restart(env, pg, processes, rng, args.requests, figures)
            elif name == "redis_down":
                redis_down(env, work, processes, figures)
            elif name == "celery_kill":
                celery_kill(env, work, processes, rng, args.jobs, figures)
            faults += 1
        figures["faults_injected"] = (("pg_restart" in args.only) + ("redis_down" in args.only)
                                      + figures.get("celery_kills", 0))
        figures["scenarios"] = faults
        verify = manage(env, "verify_all", "--json", check=False, capture=True)
        report = json.loads(verify.stdout)
        figures["verify_all"] = {v["name"]: v["ok"] for v in report["verifiers"]}
        # Per request (whole or nothing), per retry, per probe, and the verifiers at the end.
        figures["invariant_checks"] = (figures.get("pg_requests", 0) + sum(figures.get("pg_retry_statuses", {})
                                       .values()) + args.jobs * ("celery_kill" in args.only)
                                       + figures.get("redis_down_jobs_waiting_in_outbox", 0)
                                       + len(report["verifiers"]))
        if verify.returncode:
            raise RuntimeError("verify_all failed after the faults")
    except Exception as exc:  # noqa: BLE001 - report, clean up, exit 1
        failed = True
        log(f"FAILED: {type(exc).__name__}: {exc}")
        for name, _proc in processes.started:
            path = work / f"{name}.log"
            if path.exists():
                print(f"---- last lines of {name}.log ----\n" + "\n".join(path.read_text().splitlines()[-15:]))
    finally:
        processes.stop()
        if pg is not None:
            pg.stop()
        figures["seconds"] = round(time.monotonic() - started, 1)
    figures["ok"] = not failed
    print("fault_injection: " + json.dumps(figures))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    if not failed:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
