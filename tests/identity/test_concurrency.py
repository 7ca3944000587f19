"""Limits under concurrent requests, each on its own PostgreSQL connection."""
from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections

from identity.models import PendingVerification, RateLimitEntry
from tests.clients import APIClient

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PHONE = "+5511987654321"
# The server allows 100 connections and other test runs share it: 25 threads (25 real connections) carry the
# 200 guesses, all released at once by a barrier and each thread firing its share back to back.
THREADS = 25


def _parallel(count: int, request) -> Counter:
    barrier = threading.Barrier(THREADS)
    per_thread = count // THREADS

    def worker(_index: int) -> list[int]:
        client = APIClient()
        try:
            barrier.wait(timeout=30)
            return [request(client) for _ in range(per_thread)]
        finally:
            connections.close_all()

    with ThreadPoolExecutor(THREADS) as pool:
        statuses = [s for batch in pool.map(worker, range(THREADS)) for s in batch]
    assert len(statuses) == count
    return Counter(statuses)


def test_200_parallel_wrong_guesses_count_at_most_5(api_client, run_jobs, otp_outbox):
    started = api_client.post("/api/v1/identity/otp/start", {"phone": PHONE})
    run_jobs()
    vid = started.json()["verification_id"]
    bad = f"{(int(otp_outbox.code_for(vid)) + 1) % 1_000_000:06d}"

    statuses = _parallel(200, lambda c: c.post("/api/v1/identity/otp/verify",
                                               {"verification_id": vid, "code": bad}).status_code)

    assert statuses == Counter({400: 5, 410: 195})
    verification = PendingVerification.objects.get(pk=vid)
    assert verification.attempts == 5 and verification.status == "burned"
    assert RateLimitEntry.objects.get(key=f"phone:{PHONE}", action="otp_failure").attempt_count == 5
    right = api_client.post("/api/v1/identity/otp/verify", {"verification_id": vid, "code": otp_outbox.code_for(vid)})
    assert right.status_code == 410


def test_parallel_starts_never_pass_the_phone_limit(settings):
    settings.OTP_SEND_LIMIT_PER_PHONE = 5
    statuses = _parallel(50, lambda c: c.post("/api/v1/identity/otp/start", {"phone": PHONE}).status_code)
    assert statuses == Counter({201: 5, 429: 45})
    assert PendingVerification.objects.count() == 5
    assert RateLimitEntry.objects.get(key=f"phone:{PHONE}", action="otp_send").attempt_count == 5


def test_parallel_first_sign_ins_of_one_phone_make_one_user(settings, run_jobs, otp_outbox):
    from identity.models import User
    from identity.services.otp import otp_start, otp_verify

    settings.OTP_SEND_LIMIT_PER_PHONE = 50
    verifications = [otp_start(phone=PHONE, ip=None) for _ in range(THREADS)]
    run_jobs()
    codes = {str(v.pk): otp_outbox.code_for(v.pk) for v in verifications}
    barrier = threading.Barrier(THREADS)

    def worker(vid: str):
        try:
            barrier.wait(timeout=30)
            return otp_verify(verification_id=vid, code=codes[vid]).user.pk
        finally:
            connections.close_all()

    with ThreadPoolExecutor(THREADS) as pool:
        users = set(pool.map(worker, codes))
    assert len(users) == 1 and User.objects.count() == 1
