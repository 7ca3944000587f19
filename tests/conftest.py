"""Fixtures shared by every test package."""
from __future__ import annotations

import os

import pytest
from django.db import connection

from tests.clients import APIClient, Client


def pytest_collection_modifyitems(config, items):
    """Tests that need PostgreSQL or Redis are skipped on the embedded default, never in CI."""
    on_postgres = connection.vendor == "postgresql"
    has_redis = bool(os.environ.get("REDIS_URL"))
    in_ci = os.environ.get("CI") == "true"
    for item in items:
        missing = None
        if item.get_closest_marker("postgres") and not on_postgres:
            missing = "PostgreSQL (set DATABASE_URL)"
        elif item.get_closest_marker("redis") and not has_redis:
            missing = "Redis (set REDIS_URL)"
        if missing is None:
            continue
        if in_ci and not item.get_closest_marker("smoke"):
            # CI runs these on real services; a missing service there is a failure, not a skip.
            item.add_marker(pytest.mark.usefixtures("_fail_missing_service"))
        else:
            item.add_marker(pytest.mark.skip(reason=f"needs {missing}"))


@pytest.fixture
def _fail_missing_service():
    pytest.fail("CI must run this test on PostgreSQL and Redis: DATABASE_URL / REDIS_URL are not set")


@pytest.fixture
def client() -> Client:
    """pytest-django's ``client``, as a client whose ``force_login`` passes the second factor (tests/clients.py)."""
    return Client()


@pytest.fixture
def admin_client(db, admin_user) -> Client:
    """pytest-django's ``admin_client``: signed in as ``admin_user``, second factor included."""
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture(autouse=True)
def _fresh_kill_switch_cache():
    """Each process caches the kill switches for up to KILLSWITCH_CACHE_SECONDS; a test's rolled-back activation
    must not leak into the next test through that copy."""
    from infrastructure.services.killswitches import killswitch_cache_clear

    killswitch_cache_clear()
    yield
    killswitch_cache_clear()


class AuditLog:
    """The audit log as a test sees it: every query first chains what is staged (under the ``db`` fixture
    ``on_commit`` never fires, so nothing would be chained otherwise).

        def test_refund_is_audited(audit_log):
            refund(...)
            event = audit_log.assert_recorded("PAYMENT_REFUNDED", target_id=payment.id, after={"status": "refunded"})

    Keyword filters are ORM lookups on ``AuditEvent``; ``before``/``after``/``metadata`` given as dicts match when
    every key given has that value (other keys are ignored).
    """

    _PAYLOADS = ("before", "after", "metadata")

    def __init__(self) -> None:
        self._after_sequence = 0

    def events(self, type: str | None = None, **filters):
        from audit.models import AuditEvent
        from audit.services import audit_sequence

        audit_sequence()
        payloads = {k: filters.pop(k) for k in self._PAYLOADS if isinstance(filters.get(k), dict)}
        qs = AuditEvent.objects.filter(sequence__gt=self._after_sequence, **filters).order_by("sequence")
        if type is not None:
            qs = qs.filter(type=type)
        if not payloads:
            return qs
        keep = [e.pk for e in qs if all(isinstance(getattr(e, k), dict)
                                        and all(getattr(e, k).get(n, object()) == v for n, v in want.items())
                                        for k, want in payloads.items())]
        return AuditEvent.objects.filter(pk__in=keep).order_by("sequence")

    def types(self) -> list[str]:
        return list(self.events().values_list("type", flat=True))

    def last(self, type: str | None = None):
        return self.events(type).last()

    def assert_recorded(self, type: str, **filters):
        """The one event of ``type`` matching ``filters`` (fails when there is none or more than one)."""
        found = list(self.events(type, **filters))
        assert len(found) == 1, (f"expected one {type} event matching {filters}, found {len(found)}; "
                                 f"recorded: {self.types()}")
        return found[0]

    def assert_not_recorded(self, type: str, **filters) -> None:
        found = list(self.events(type, **filters))
        assert not found, f"expected no {type} event matching {filters}, found {len(found)}"

    def mark(self) -> None:
        """From now on, see only events chained after this point."""
        from audit.selectors import chain_head
        from audit.services import audit_sequence

        audit_sequence()
        head = chain_head()
        self._after_sequence = head[0] if head else 0

    def __len__(self) -> int:
        return self.events().count()

    def __iter__(self):
        return iter(self.events())


@pytest.fixture
def audit_log() -> AuditLog:
    """Assert on audit events (see ``AuditLog``); works under ``db`` and ``transactional_db``."""
    return AuditLog()


class JobRunner:
    """Runs queued jobs the way ``manage.py run_jobs`` does: ``JobWorker.run_batch`` claims due jobs with
    ``jobs_claim`` and runs them with ``jobs_execute_group`` (consecutive atomic jobs) or ``job_execute``, marking
    each done, retried or dead-lettered — until nothing is due.

        run_jobs()                      # every due job; returns how many ran
        run_jobs("payout_send")         # only these types
        run_jobs(allow_failures=True)   # a failed attempt is expected (retry or dead letter): no assertion

    A job that fails fails the test (with its recorded error) unless ``allow_failures``. ``outcomes`` lists
    ``(job, outcome)`` of the last call. Jobs whose retry is not due yet stay queued (set
    ``JOBS_RETRY_BASE_SECONDS = 0`` to make retries due at once).
    """

    def __init__(self) -> None:
        self.outcomes: list = []
        self._runs = 0

    def __call__(self, *types: str, allow_failures: bool = False, max_jobs: int = 1000) -> int:
        from infrastructure.services.jobs import DONE
        from infrastructure.worker import JobWorker

        self._runs += 1
        self.outcomes = []
        worker = JobWorker(name=f"tests:run_jobs:{self._runs}", types=types or None, poll_seconds=0,
                           on_outcome=lambda job, outcome: self.outcomes.append((job, outcome)))
        ran = 0
        while True:
            batch = worker.run_batch()
            ran += batch
            if not batch:
                break
            assert ran <= max_jobs, f"more than {max_jobs} jobs ran: a job keeps queueing another?"
        failed = [(job, outcome) for job, outcome in self.outcomes if outcome != DONE]
        if failed and not allow_failures:
            for job, _outcome in failed:
                job.refresh_from_db()
            details = "\n".join(f"{job.type} {job.id}: {outcome}\n{job.last_error}" for job, outcome in failed)
            raise AssertionError(f"{len(failed)} job(s) did not complete:\n{details}")
        return ran


@pytest.fixture
def run_jobs() -> JobRunner:
    """Run due jobs through the real worker code (see ``JobRunner``)."""
    return JobRunner()


@pytest.fixture
def webhook_receiver():
    """A local HTTP server receiving webhooks (see tests/webhook_receiver.py); closed after the test."""
    from tests.webhook_receiver import WebhookReceiver

    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def prove(settings, tmp_path, run_jobs):
    """Prove one of an app's users over HTTP, as the product does it: the app asks for a code
    (``POST /api/v1/app/users/{id}/verifications``), the code reaches the person's phone (the ``file`` sender here),
    the person gives it to the app, and the app confirms it. ``prove(client, external_user_id)`` returns the confirmed
    app user's JSON; ``prove.code_for(verification_id)`` reads a code that was sent.

    The client must hold a credential with the ``identity`` scope."""
    import json
    from urllib.parse import quote

    if settings.OTP_SENDER != "file":
        settings.OTP_SENDER = "file"
        settings.OTP_FILE_PATH = tmp_path / "otp-messages.jsonl"

    class Prover:
        def code_for(self, verification_id) -> str:
            run_jobs("otp_send")
            path = settings.OTP_FILE_PATH
            lines = path.read_text().splitlines() if path.exists() else []
            found = [m["code"] for m in map(json.loads, lines) if m["verification_id"] == str(verification_id)]
            assert found, f"no code was sent for verification {verification_id}"
            return found[-1]

        def start(self, client, external_user_id: str) -> str:
            started = client.post(f"/api/v1/app/users/{quote(external_user_id)}/verifications", {"channel": "sms"},
                                  format="json")
            assert started.status_code == 201, started.content
            return started.json()["verification_id"]

        def __call__(self, client, external_user_id: str) -> dict:
            verification_id = self.start(client, external_user_id)
            confirmed = client.post(
                f"/api/v1/app/users/{quote(external_user_id)}/verifications/{verification_id}/confirm",
                {"code": self.code_for(verification_id)}, format="json")
            assert confirmed.status_code == 200, confirmed.content
            return confirmed.json()

    return Prover()
