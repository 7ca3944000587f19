"""Idempotency keys: fingerprints, retention, and concurrent requests with one key (one effect)."""
import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from billing.idempotency import idempotency_run, request_fingerprint
from billing.jobs import idempotency_purge
from billing.models import IdempotencyKey, LedgerEntry, Payout
from billing.services.ledger import ledger_post
from core.errors import ServiceError
from infrastructure.services.jobs import job_enqueue
from tests.billing.helpers import in_threads

PAYOUTS = "/api/v1/billing/payouts"


@pytest.mark.smoke
def test_the_fingerprint_covers_method_path_and_body():
    base = request_fingerprint("POST", "/a", {"x": 1, "y": [1, 2]})
    assert base == request_fingerprint("post", "/a", {"y": [1, 2], "x": 1})  # key order does not matter
    assert base != request_fingerprint("PUT", "/a", {"x": 1, "y": [1, 2]})
    assert base != request_fingerprint("POST", "/b", {"x": 1, "y": [1, 2]})
    assert base != request_fingerprint("POST", "/a", {"x": 2, "y": [1, 2]})
    assert request_fingerprint("POST", "/a", b"raw") != request_fingerprint("POST", "/a", b"raw2")


@pytest.mark.smoke
@pytest.mark.django_db
def test_keys_are_kept_at_least_a_day_then_purged(settings):
    settings.BILLING_IDEMPOTENCY_TTL_HOURS = 1  # below the floor: still a day
    idempotency_run(scope="s", key="k", fingerprint="f", call=lambda: (201, {"ok": True}))
    row = IdempotencyKey.objects.get()
    assert row.expires_at - row.created_at >= timedelta(hours=24)
    assert idempotency_purge(now=row.created_at + timedelta(hours=23)) == 0
    assert idempotency_purge(now=row.expires_at + timedelta(seconds=1)) == 1
    assert not IdempotencyKey.objects.exists()


@pytest.mark.smoke
@pytest.mark.django_db
def test_the_cleanup_job_deletes_only_expired_keys(run_jobs):
    idempotency_run(scope="s", key="old", fingerprint="f", call=lambda: (200, {}))
    idempotency_run(scope="s", key="new", fingerprint="f", call=lambda: (200, {}))
    IdempotencyKey.objects.filter(key="old").update(expires_at=timezone.now() - timedelta(seconds=1))
    job_enqueue("idempotency_cleanup")
    run_jobs("idempotency_cleanup")
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


@pytest.mark.smoke
@pytest.mark.django_db
def test_an_expired_key_may_be_used_again():
    calls = []
    idempotency_run(scope="s", key="k", fingerprint="f1", call=lambda: (201, {"n": calls.append(1) or 1}))
    IdempotencyKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    outcome = idempotency_run(scope="s", key="k", fingerprint="f2", call=lambda: (201, {"n": calls.append(2) or 2}))
    assert not outcome.replayed and calls == [1, 2]


@pytest.mark.smoke
@pytest.mark.django_db
def test_server_errors_and_kill_switches_are_not_remembered():
    for status in (500, 423, 429):
        outcome = idempotency_run(scope="s", key=f"k{status}", fingerprint="f", call=lambda s=status: (s, {}))
        assert outcome.status == status
    assert not IdempotencyKey.objects.exists()


@pytest.mark.smoke
@pytest.mark.django_db
def test_an_exception_in_the_call_leaves_no_key():
    def boom():
        raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        idempotency_run(scope="s", key="k", fingerprint="f", call=boom)
    assert not IdempotencyKey.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_50_parallel_requests_with_one_key_have_one_effect(billing_app):
    tenant = billing_app()
    account = tenant.account(balance=10_000)
    body = {"account_id": str(account.pk), "amount": 1_000, "destination": {"type": "pix", "key": "a@b.com"}}

    def request(_i):
        client = tenant.new_client()
        response = client.post(PAYOUTS, body, format="json", HTTP_IDEMPOTENCY_KEY="one-key")
        return response.status_code, response.json()

    results = in_threads(50, request)
    created = [body for status, body in results if status == 201]
    in_progress = [body for status, body in results if status == 409]
    assert len(created) + len(in_progress) == 50, {status for status, _ in results}
    assert all(b["error"]["code"] == "idempotency_in_progress" for b in in_progress)
    assert len(created) >= 1 and all(b == created[0] for b in created)
    assert Payout.objects.count() == 1
    assert LedgerEntry.objects.filter(account=account, type="debit").count() == 1
    account.refresh_from_db()
    assert account.balance == 9_000


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_request_waiting_too_long_for_its_key_gets_409_in_progress(settings, make_account):
    settings.BILLING_IDEMPOTENCY_WAIT_SECONDS = 1
    account = make_account(balance=100)
    inside, release = threading.Event(), threading.Event()

    def slow_call():
        entry = ledger_post(account_id=account.pk, type="debit", amount=10)
        inside.set()
        release.wait(timeout=30)
        return 201, {"entry": str(entry.pk)}

    def first(_i):
        return idempotency_run(scope="s", key="k", fingerprint="f", call=slow_call)

    holder = threading.Thread(target=lambda: in_threads(1, first))
    holder.start()
    assert inside.wait(timeout=30)
    started = time.monotonic()
    try:
        with pytest.raises(ServiceError) as caught:
            in_threads(1, lambda _i: idempotency_run(scope="s", key="k", fingerprint="f",
                                                     call=lambda: (201, {"second": True})))
        assert caught.value.code == "idempotency_in_progress" and caught.value.status == 409
        assert 0.8 < time.monotonic() - started < 10
    finally:
        release.set()
        holder.join(timeout=30)
    replay = idempotency_run(scope="s", key="k", fingerprint="f", call=lambda: (201, {"third": True}))
    assert replay.replayed and "entry" in replay.body
    assert LedgerEntry.objects.filter(account=account, type="debit").count() == 1


def test_fingerprints_carry_their_format_and_hash_the_canonical_body():
    import hashlib

    import rfc8785

    fingerprint = request_fingerprint("post", "/a", {"b": 1.0, "a": [1e-07]})
    digest = hashlib.sha256()
    for part in (b"POST", b"/a", rfc8785.dumps({"a": [1e-07], "b": 1})):
        digest.update(len(part).to_bytes(8, "big") + part)
    assert fingerprint == "v2:" + digest.hexdigest()
    # Format v1 (keys stored before fingerprints carried a version) spells the body as Python's json module does.
    legacy = hashlib.sha256()
    for part in (b"POST", b"/a", b'{"a":[1e-07],"b":1.0}'):
        legacy.update(len(part).to_bytes(8, "big") + part)
    assert request_fingerprint("post", "/a", {"b": 1.0, "a": [1e-07]}, version=1) == legacy.hexdigest()
