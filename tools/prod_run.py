#!/usr/bin/env python3
"""A production-shaped run: gunicorn with several workers, a Celery worker and beat on Redis, PostgreSQL,
DEBUG off with generated secrets, Stripe played by localstripe and the SMS provider faked at its HTTP boundary.

Scenario over HTTP: two people sign in by OTP (the code read from the fake provider), one creates an application and
a credential, a customer of the app proves their phone to it and pays with a card (localstripe confirms and calls
our Stripe webhook), the tenant runs an ad campaign and spends, an agent proposes a credit that needs approval, a
person with a decision authority approves it over the API, and Celery executes it. Then the security headers
(Content-Security-Policy and ``Cache-Control: no-store`` included), the 413 limit and a lone-surrogate body (400)
are checked over gunicorn, ``check --deploy`` runs with the same settings, the seeded workload and the API fuzzer
run against this deployment (each from a process of its own with ``DEVTOOLS=true``: they are development tools,
which the processes that serve never install), and ``verify_all`` closes. Every process it started is stopped at
the end, whatever happens.

The database runs with its two roles (``db_roles``): migrations as the owner role, everything else (gunicorn,
Celery, the commands) as the application role. At the end, as the application role, the run tries to change, empty
and unprotect every append-only table (each must be refused), then forges a ledger credit with a consistent
``balance_after``, sequence and balance, as an attacker holding the application's database password could:
``verify_all`` must then fail, naming that entry, or the run fails.

    python tools/prod_run.py [--fuzz-examples 8] [--workload-steps 300] [--seed 1]

Needs PostgreSQL (``PRODRUN_DATABASE_URL``, default postgres://postgres@127.0.0.1:5432/prostqs_prodrun, dropped
and recreated; its user must be a superuser, which creates the roles ``<database>_owner`` and ``<database>_app``
and is used for nothing else) and Redis (``PRODRUN_REDIS_URL``, default redis://127.0.0.1:6379/14, flushed).
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(message: str) -> None:
    print(f"[prod_run {time.strftime('%H:%M:%S')}] {message}", flush=True)


class FakeSms:
    """The SMS provider's HTTP API (Twilio's Messages shape): records every message, answers 201."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                outer.messages.append({"path": self.path, **form})
                body = json.dumps({"sid": f"SM{len(outer.messages):032d}", "status": "queued"}).encode()
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def code_for(self, phone: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in reversed(self.messages):
                if message.get("To") == phone:
                    found = re.search(r"\b(\d{6})\b", message.get("Body", ""))
                    if found:
                        return found.group(1)
            time.sleep(0.2)
        raise RuntimeError(f"no SMS reached {phone} within {timeout}s (is the Celery worker running jobs?)")


class Processes:
    """Every process this run started, each in its own process group; stopped in reverse order."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.started: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, argv: list[str], env: dict) -> subprocess.Popen:
        out = open(self.logdir / f"{name}.log", "w")  # noqa: SIM115 - kept open for the process's life
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out,  # noqa: S603 - our own commands
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.started.append((name, proc))
        return proc

    def stop(self, names: set[str] | None = None) -> None:
        """Stop every process (or those named), newest first: SIGTERM, then SIGKILL after 20 s."""
        chosen = [(n, p) for n, p in self.started if names is None or n in names]
        for _name, proc in reversed(chosen):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for name, proc in reversed(chosen):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                log(f"{name} did not stop on SIGTERM: SIGKILL")
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def check_alive(self) -> None:
        for name, proc in self.started:
            if proc.poll() is not None:
                tail = (self.logdir / f"{name}.log").read_text()[-3000:]
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail}")


def wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {port}")


def manage(env: dict, *args: str, check: bool = True, capture: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=env,  # noqa: S603 - our own manage.py
                          check=check, text=True, capture_output=capture)


class Api:
    """HTTP calls to the gunicorn under test, counting statuses (5xx above all)."""

    def __init__(self, base: str) -> None:
        import requests

        self.base = base
        self.session = requests.Session()
        self.session.headers["X-Forwarded-Proto"] = "https"   # as the TLS-terminating proxy would
        self.statuses: dict[int, int] = {}

    def __call__(self, method: str, path: str, *, auth: str | None = None, json_body=None, key: str | None = None,
                 expect: int | tuple[int, ...] | None = None, **kwargs):
        headers = kwargs.pop("headers", {})
        if auth:
            headers["Authorization"] = auth
        if key:
            headers["Idempotency-Key"] = key
        response = self.session.request(method, self.base + path, json=json_body, headers=headers, timeout=60,
                                        **kwargs)
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        if expect is not None:
            wanted = expect if isinstance(expect, tuple) else (expect,)
            if response.status_code not in wanted:
                raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response


def wait_until(what: str, condition, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise RuntimeError(f"timed out waiting for {what}")


def sign_in(api: Api, sms: FakeSms, phone: str) -> tuple[str, str]:
    started = api("POST", "/api/v1/identity/otp/start", json_body={"phone": phone, "channel": "sms"},
                  expect=201).json()
    code = sms.code_for(phone)
    verified = api("POST", "/api/v1/identity/otp/verify", json_body={
        "verification_id": started["verification_id"], "code": code, "device_fingerprint": "prod-run"},
        expect=200).json()
    return f"Bearer {verified['session_token']}", verified["user_id"]


def scenario(api: Api, sms: FakeSms, env: dict, stripe_base: str, figures: dict) -> None:
    import stripe

    owner, _owner_id = sign_in(api, sms, "+5511990000001")
    approver, approver_id = sign_in(api, sms, "+5511990000002")
    log("two people signed in by OTP (codes read from the fake SMS provider, sent by Celery)")
    app = api("POST", "/api/v1/apps", auth=owner, json_body={"name": "Production-shaped shop"}, expect=201).json()
    issued = api("POST", f"/api/v1/apps/{app['id']}/credentials", auth=owner, json_body={
        "name": "server", "scopes": ["identity", "billing", "ads", "agents", "observer", "audit"]},
        expect=201).json()
    cred = "Basic " + base64.b64encode(f"{issued['public_key']}:{issued['secret']}".encode()).decode()
    log(f"app {app['id']} and a credential created")

    api("POST", "/api/v1/app/users", auth=cred, json_body={"external_user_id": "customer-1",
                                                           "phone": "+5511990000003"}, expect=201)
    # The link is a claim until the customer proves it through the app (the code sent to their phone).
    proof = api("POST", "/api/v1/app/users/customer-1/verifications", auth=cred, json_body={"channel": "sms"},
                expect=201).json()
    api("POST", f"/api/v1/app/users/customer-1/verifications/{proof['verification_id']}/confirm", auth=cred,
        json_body={"code": sms.code_for("+5511990000003")}, expect=200)
    account = api("POST", "/api/v1/billing/accounts", auth=cred, json_body={"external_user_id": "customer-1"},
                  expect=(200, 201)).json()
    intent = api("POST", "/api/v1/billing/payment-intents", auth=cred, key="order-1",
                 json_body={"account_id": account["id"], "amount": 250_000}, expect=201).json()
    customer = stripe.StripeClient("sk_test_prodrun", base_addresses={"api": stripe_base}, max_network_retries=0)
    card = customer.v1.payment_methods.create(params={
        "type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}})
    customer.v1.payment_intents.update(intent["provider_intent_id"], params={"payment_method": card.id})
    customer.v1.payment_intents.confirm(intent["provider_intent_id"])
    wait_until("the Stripe webhook to credit the account", lambda: api(
        "GET", f"/api/v1/billing/accounts/{account['id']}", auth=cred).json()["balance"] == 250_000)
    log("a card payment confirmed at localstripe credited the account through the signed webhook")

    ad_account = api("POST", "/api/v1/ads/accounts", auth=cred, json_body={
        "name": "Shop ads", "external_user_id": "customer-1"}, expect=201).json()
    budget = api("POST", "/api/v1/ads/budgets", auth=cred, json_body={
        "ad_account_id": ad_account["id"], "amount_total": 100_000}, expect=201).json()
    campaign = api("POST", "/api/v1/ads/campaigns", auth=cred, json_body={
        "ad_account_id": ad_account["id"], "budget_id": budget["id"], "name": "Launch", "objective": "clicks"},
        expect=201).json()
    api("POST", f"/api/v1/ads/campaigns/{campaign['id']}/activate", auth=cred, json_body={}, expect=200)
    for n in range(5):
        api("POST", f"/api/v1/ads/campaigns/{campaign['id']}/spend", auth=cred, key=f"spend-{n}",
            json_body={"amount": 1_000, "quantity": 10, "unit": "click"}, expect=201)
    log("an ad campaign spent 5 times")

    agent = api("POST", "/api/v1/agents", auth=cred, json_body={"name": "treasurer", "type": "executor",
                                                                  "app_id": app["id"]}, expect=201).json()
    api("PUT", f"/api/v1/agents/{agent['id']}/policies/billing", auth=cred, json_body={
        "allowed_actions": ["credit"], "max_amount": 1_000_000, "requires_approval": True}, expect=(200, 201))
    # What tech leads do in the console: an allow policy, the agent's autonomy, the approver's authority.
    manage(env, "shell", "--no-imports", "-c", (
        "from governance.services.policies import policy_create;"
        "from governance.services.autonomy import autonomy_profile_set;"
        "from governance.services.authorities import authority_grant;"
        "from identity.models import User;"
        "admin = User.objects.create_user(username='prod-run-admin', role=User.Role.SUPER_ADMIN);"
        "policy_create(name='billing credits', resource='billing', action='credit', effect='allow',"
        " reason='credits by agents are allowed, with the agent policy approval', conditions=[], priority=0,"
        " active=True);"
        f"autonomy_profile_set(agent_id='{agent['id']}', base_level=3);"
        f"authority_grant(user=User.objects.get(pk='{approver_id}'), role='tech_lead', scopes=['billing'],"
        " max_impact='critical', granted_by=admin)"))
    decision = api("POST", f"/api/v1/agents/{agent['id']}/decisions", auth=cred, key="credit-1", json_body={
        "domain": "billing", "action": "credit", "target_entity": f"account:{account['id']}",
        "payload": {"amount": 12_345}}, expect=201).json()
    if decision["outcome"] != "pending_approval":
        raise RuntimeError(f"the agent's credit should wait for approval: {decision}")
    api("POST", f"/api/v1/governance/approvals/{decision['approval_request_id']}/decisions", auth=approver,
        json_body={"decision": "approved", "justification": "Checked the agent's reasons and the account."},
        expect=201)
    executed = wait_until("Celery to execute the approved decision", lambda: (lambda d: d if d["status"] in (
        "executed", "rejected") else None)(api("GET", f"/api/v1/agents/{agent['id']}/decisions/{decision['id']}",
                                               auth=cred).json()))
    if executed["status"] != "executed":
        raise RuntimeError(f"the approved decision did not execute: {executed}")
    balance = api("GET", f"/api/v1/billing/accounts/{account['id']}", auth=cred).json()["balance"]
    expected = 250_000 - 5 * 1_000 + 12_345   # paid, spent on ads (the ad account draws on it), credited
    if balance != expected:
        raise RuntimeError(f"balance {balance}, expected {expected}")
    log("the agent proposed a credit, a person approved it over the API, Celery executed it")
    figures["scenario"] = "passed"

    headers = api("GET", "/api/v1/ads/limits", auth=cred, expect=200).headers
    wanted = {"Strict-Transport-Security": "max-age=31536000; includeSubDomains; preload",
              "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}
    for name, value in wanted.items():
        if headers.get(name) != value:
            raise RuntimeError(f"header {name}: {headers.get(name)!r}, expected {value!r}")
    # Content-Security-Policy: the API's answers allow nothing; the console and the API docs run only their own
    # script files. API answers are never stored by a cache (several carry secrets shown once).
    if "no-store" not in headers.get("Cache-Control", ""):
        raise RuntimeError(f"API answer Cache-Control: {headers.get('Cache-Control')!r}, expected no-store")
    for path, auth, wanted_csp in (
            ("/api/v1/ads/limits", cred, {"default-src": "'none'", "frame-ancestors": "'none'"}),
            ("/admin/login/", None, {"script-src": "'self'", "style-src": "'self'", "frame-ancestors": "'none'",
                                     "object-src": "'none'", "base-uri": "'none'"}),
            ("/api/docs/", None, {"script-src": "'self'", "default-src": "'none'", "frame-ancestors": "'none'"})):
        header = api("GET", path, auth=auth, expect=200).headers.get("Content-Security-Policy", "")
        directives = {name: value.strip() for name, _sep, value in
                      (part.strip().partition(" ") for part in header.split(";") if part.strip())}
        for name, value in wanted_csp.items():
            if directives.get(name) != value:
                raise RuntimeError(f"{path} Content-Security-Policy {name}: {directives.get(name)!r}, "
                                   f"expected {value!r} (whole header: {header!r})")
    surrogate = api("POST", "/api/v1/billing/payment-intents", auth=cred, key="lone-surrogate",
                    data=b'{"account_id": "%s", "amount": 1, "description": "\\udfff"}' % account["id"].encode(),
                    headers={"Content-Type": "application/json"})
    if surrogate.status_code != 400 or surrogate.json()["error"]["code"] != "parse_error":
        raise RuntimeError(f"a lone surrogate answered {surrogate.status_code} {surrogate.text[:200]}")
    big = api("POST", "/api/v1/billing/payment-intents", auth=cred, key="too-big",
              data=json.dumps({"account_id": account["id"], "amount": 1, "pad": "x" * (2 * 1024 * 1024)}),
              headers={"Content-Type": "application/json"})
    if big.status_code != 413 or big.json()["error"]["code"] != "payload_too_large":
        raise RuntimeError(f"an oversized body answered {big.status_code} {big.text[:200]}")
    log("security headers (CSP, no-store) present over gunicorn; a 2 MiB body answered 413 and a lone surrogate 400 "
        "in the JSON shape")


def as_role(url: str, role: str) -> str:
    """``url`` logging in as ``role`` (no password: the run's PostgreSQL trusts local connections)."""
    parts = urlparse(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return parts._replace(netloc=f"{role}@{host}").geturl()


def append_only_tables(conn) -> list[tuple[str, str]]:
    """(table, first column) of every table the append-only triggers protect, read from the database."""
    return conn.execute(
        "SELECT c.relname, a.attname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = 1 "
        "WHERE t.tgname = c.relname || '_append_only' ORDER BY c.relname").fetchall()


def app_role_refusals(app_url: str, app_role: str) -> int:
    """As the application role: changing, emptying or unprotecting any append-only table, and switching the
    triggers off for the session, must each be refused for lack of privilege (SQLSTATE 42501)."""
    import psycopg
    from psycopg import sql

    refused = 0
    with psycopg.connect(app_url, autocommit=True) as conn:
        if conn.execute("SELECT current_user").fetchone()[0] != app_role:
            raise RuntimeError(f"the run's connection is not {app_role}")
        tables = append_only_tables(conn)
        if len(tables) < 8:
            raise RuntimeError(f"only {len(tables)} append-only tables found")
        attempts = [sql.SQL("SET session_replication_role = replica")]
        for table, column in tables:
            t, c = sql.Identifier(table), sql.Identifier(column)
            attempts += [sql.SQL("UPDATE {} SET {} = {} WHERE false").format(t, c, c),
                         sql.SQL("DELETE FROM {} WHERE false").format(t), sql.SQL("TRUNCATE {}").format(t),
                         sql.SQL("ALTER TABLE {} DISABLE TRIGGER ALL").format(t)]
        for statement in attempts:
            try:
                conn.execute(statement)
            except psycopg.errors.InsufficientPrivilege:
                refused += 1
                continue
            raise RuntimeError(f"the application role was allowed: {statement.as_string(conn)}")
    return refused


def forge_ledger_credit(app_url: str, amount: int) -> str:
    """The attack of a stolen application password: a credit on the richest account, with the next sequence, a
    consistent balance_after and the balance raised to match; no audit event."""
    import uuid

    import psycopg

    entry = str(uuid.uuid4())
    with psycopg.connect(app_url) as conn, conn.transaction():
        account, balance, last = conn.execute(
            "SELECT account_id, balance, last_sequence FROM billing_accounts ORDER BY balance DESC LIMIT 1 "
            "FOR UPDATE").fetchone()
        conn.execute("INSERT INTO ledger_entries (entry_id, account_id, type, amount, description, reference_id, "
                     "balance_after, sequence, created_at) VALUES (%s, %s, 'credit', %s, 'goodwill', 'manual', %s, "
                     "%s, now())", [entry, account, amount, balance + amount, last + 1])
        conn.execute("UPDATE billing_accounts SET balance = %s, last_sequence = %s, updated_at = now() "
                     "WHERE account_id = %s", [balance + amount, last + 1, account])
    return entry


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fuzz-examples", type=int, default=8)
    parser.add_argument("--workload-steps", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()

    database = os.environ.get("PRODRUN_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/prostqs_prodrun")
    redis_url = os.environ.get("PRODRUN_REDIS_URL", "redis://127.0.0.1:6379/14")
    work = Path(tempfile.mkdtemp(prefix="prostqs-prod-run-"))
    processes = Processes(work)
    sms = FakeSms()
    figures: dict = {"gunicorn_workers": args.workers}
    web_port, stripe_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CI")}
    env.update({
        "DEBUG": "false", "DATABASE_URL": database, "REDIS_URL": redis_url,
        "SECRET_KEY": secrets.token_urlsafe(64),
        "SECRETS_MASTER_KEYS": "k1:" + base64.b64encode(os.urandom(32)).decode(),
        "AUDIT_CHECKPOINT_KEY": base64.b64encode(os.urandom(32)).decode(),
        "AUDIT_CHECKPOINT_DIR": str(work / "checkpoints"), "AUDIT_CHECKPOINT_INTERVAL": "10",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        # Behind a TLS-terminating proxy (it sets X-Forwarded-Proto): localstripe's webhooks arrive in plain HTTP.
        "SECURE_SSL_REDIRECT": "false",
        "OTP_SENDER": "http", "OTP_HTTP_BASE_URL": sms.url, "OTP_HTTP_ACCOUNT_SID": "ACprodrun",
        "OTP_HTTP_AUTH_TOKEN": secrets.token_hex(16), "OTP_HTTP_FROM": "+15550001111",
        "STRIPE_SECRET_KEY": "sk_test_prodrun", "STRIPE_API_BASE": f"http://127.0.0.1:{stripe_port}",
        "STRIPE_WEBHOOK_SECRET": "whsec_" + secrets.token_hex(16),
        "JOBS_RETRY_BASE_SECONDS": "1", "LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1",
    })
    db_name = urlparse(database).path.lstrip("/")
    admin_url = database.rsplit("/", 1)[0] + "/postgres"
    owner_role, app_role = f"{db_name}_owner", f"{db_name}_app"
    owner_url, app_url = as_role(database, owner_role), as_role(database, app_role)
    # Everything below runs as the application role, but the two steps that need more: the roles (superuser) and
    # the migrations (owner).
    env["DATABASE_URL"] = app_url
    figures["database_roles"] = {"owner": owner_role, "app": app_role}
    failed = False
    started = time.monotonic()
    try:
        import psycopg
        import redis

        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{db_name}"')
        redis.Redis.from_url(redis_url).flushdb()
        log(f"fresh database {db_name}, Redis {redis_url} flushed; logs in {work}")

        deploy = manage({**env, "SECURE_SSL_REDIRECT": "true"}, "check", "--deploy", "--fail-level", "WARNING",
                        check=False, capture=True)
        figures["check_deploy"] = "clean" if deploy.returncode == 0 else "FAILED"
        print(deploy.stdout + deploy.stderr, end="")
        if deploy.returncode:
            raise RuntimeError("manage.py check --deploy is not clean with production settings")
        manage({**env, "DATABASE_URL": database}, "db_roles", "--owner", owner_role, "--app", app_role)
        manage({**env, "DATABASE_URL": owner_url}, "migrate", "--no-input", "-v0")
        # The tables migrate created got their grants from the owner's default privileges and AppendOnly: checked
        # here as the application role, without running db_roles again.
        manage(env, "db_roles", "--check", "--app", app_role)
        log(f"roles {owner_role} (migrated) and {app_role} (serves everything below)")

        processes.start("localstripe", [PY, "-m", "localstripe", "--port", str(stripe_port), "--from-scratch"], env)
        wait_port(stripe_port)
        import requests

        requests.post(f"http://127.0.0.1:{stripe_port}/_config/webhooks/prostqs", timeout=10, json={
            "url": f"http://127.0.0.1:{web_port}/api/v1/billing/webhooks/stripe",
            "secret": env["STRIPE_WEBHOOK_SECRET"], "events": ["payment_intent.succeeded",
                                                               "payment_intent.payment_failed"]}).raise_for_status()
        processes.start("gunicorn", [PY, "-m", "gunicorn", "prostqs.wsgi:application", "--workers",
                                     str(args.workers), "--bind", f"127.0.0.1:{web_port}", "--access-logfile", "-",
                                     "--timeout", "60"], env)
        processes.start("celery-worker", [PY, "-m", "celery", "-A", "prostqs", "worker", "--loglevel", "INFO",
                                          "--concurrency", "2", "--without-gossip", "--without-mingle"], env)
        processes.start("celery-beat", [PY, "-m", "celery", "-A", "prostqs", "beat", "--loglevel", "INFO",
                                        "--schedule", str(work / "celerybeat-schedule")], env)
        wait_port(web_port)
        api = Api(f"http://127.0.0.1:{web_port}")
        wait_until("healthz", lambda: api("GET", "/healthz").status_code == 200, timeout=60)
        processes.check_alive()
        log(f"gunicorn ({args.workers} workers), Celery worker and beat, localstripe are up")

        scenario(api, sms, env, f"http://127.0.0.1:{stripe_port}", figures)
        processes.check_alive()

        # The workload and the fuzzer are development tools (devtools/): each runs in a process of its own that
        # installs them, against the deployment above, which serves without them.
        tooling = {**env, "DEVTOOLS": "true"}
        if args.workload_steps:
            out = manage(tooling, "workload", "--seed", str(args.seed), "--steps", str(args.workload_steps),
                         check=False, capture=True)
            print(out.stdout[-3000:] + out.stderr[-3000:], end="")
            if "workload: " in out.stdout:
                figures["workload"] = json.loads(out.stdout.split("workload: ", 1)[1].splitlines()[0])
            if out.returncode:
                raise RuntimeError(f"the workload failed (seed {args.seed})")
        if args.fuzz_examples:
            out = manage(tooling, "fuzz_api", "--url", api.base, "--examples", str(args.fuzz_examples),
                         "--seed", str(args.seed), check=False, capture=True)
            print(out.stdout[-6000:] + out.stderr[-3000:], end="")
            if "fuzz_api: " in out.stdout:
                figures["fuzz"] = json.loads(out.stdout.split("fuzz_api: ", 1)[1].splitlines()[0])
            if out.returncode:
                raise RuntimeError("the API fuzzer found failures")
        processes.check_alive()
        manage(env, "audit_checkpoint")
        verify = manage(env, "verify_all", "--json", check=False, capture=True)
        report = json.loads(verify.stdout)
        figures["verify_all"] = {v["name"]: ("ok" if v["ok"] else "FAILED") + f" ({v['checked']})"
                                 for v in report["verifiers"]}
        figures["invariant_checks"] = len(report["verifiers"]) + figures.get("workload", {}).get(
            "invariant_checks", 0)
        if verify.returncode:
            print(verify.stdout)
            raise RuntimeError("verify_all failed after the production-shaped run")
        figures["database_roles"]["refused"] = app_role_refusals(app_url, app_role)
        log(f"{app_role}: {figures['database_roles']['refused']} UPDATE/DELETE/TRUNCATE/DISABLE TRIGGER attempts on "
            "append-only tables and the trigger switch refused")
        forged = forge_ledger_credit(app_url, 50_000)
        caught = manage(env, "verify_all", "--json", "--no-store", check=False, capture=True)
        found = {v["name"]: v["problems"] for v in json.loads(caught.stdout)["verifiers"] if not v["ok"]}
        if caught.returncode != 1 or list(found) != ["evidence_ledger_entries"] or \
                forged not in found["evidence_ledger_entries"][0]:
            print(caught.stdout[-3000:])
            raise RuntimeError(f"verify_all did not catch the ledger credit {forged} forged as {app_role}")
        figures["forgery"] = {"entry": forged, "caught_by": list(found)}
        log(f"a credit forged as {app_role} (consistent balance and sequence, no audit event) is caught: "
            f"{found['evidence_ledger_entries'][0]}")
        access = (work / "gunicorn.log").read_text()
        figures["gunicorn_requests"] = len(re.findall(r'" \d{3} ', access))
        figures["gunicorn_5xx"] = len(re.findall(r'" 5\d\d ', access))
        figures["scenario_statuses"] = dict(sorted(api.statuses.items()))
        if figures["gunicorn_5xx"]:
            raise RuntimeError(f"{figures['gunicorn_5xx']} 5xx answers in the gunicorn access log")
    except Exception as exc:  # noqa: BLE001 - report, clean up, exit 1
        failed = True
        log(f"FAILED: {type(exc).__name__}: {exc}")
        for name, _proc in processes.started:
            path = work / f"{name}.log"
            if path.exists():
                print(f"---- last lines of {name}.log ----\n" + "\n".join(path.read_text().splitlines()[-25:]))
    finally:
        processes.stop()
        sms.server.shutdown()
        figures["seconds"] = round(time.monotonic() - started, 1)
        log("processes stopped")
    figures["ok"] = not failed
    print("prod_run: " + json.dumps(figures))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
