"""Phone sign-in: start, send through the jobs queue, verify, and every limit."""
from __future__ import annotations

import pytest

from audit.models import AuditEvent
from audit.services import audit_sequence
from core.errors import TooManyRequests
from identity.models import (
    AuthMethod,
    PendingVerification,
    RateLimitEntry,
    SovereignIdentity,
    SovereignSession,
    User,
    UserProfile,
)
from identity.services.otp import otp_start, otp_verify, rate_limit_clear
from infrastructure.models import Job
from tests.clients import APIClient

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]

START = "/api/v1/identity/otp/start"
VERIFY = "/api/v1/identity/otp/verify"
PHONE = "+5511987654321"


def start(client, phone=PHONE, channel="sms", ip="203.0.113.7"):
    return client.post(START, {"phone": phone, "channel": channel}, REMOTE_ADDR=ip)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_full_sign_in(api_client, run_jobs, otp_outbox):
    started = start(api_client, phone="+55 11 98765-4321")
    assert started.status_code == 201
    body = started.json()
    assert set(body) == {"verification_id", "expires_at", "channel"} and body["channel"] == "sms"
    assert Job.objects.filter(type="otp_send").count() == 1
    assert otp_outbox.messages() == []  # nothing is sent inside the request
    assert run_jobs() == 1
    message = otp_outbox.messages()[0]
    assert message["to"] == PHONE and message["code"] in message["body"]
    assert PendingVerification.objects.get().delivery_status == "sent"

    verified = api_client.post(VERIFY, {"verification_id": body["verification_id"], "code": message["code"],
                                        "device_fingerprint": "pixel-8"})
    assert verified.status_code == 200, verified.content
    out = verified.json()
    assert set(out) == {"session_token", "session_id", "user_id", "expires_at", "is_new_user"}
    assert out["is_new_user"] is True and out["session_token"].startswith("pq_st_")
    user = User.objects.get(pk=out["user_id"])
    assert SovereignIdentity.objects.get(user=user).primary_phone == PHONE
    assert UserProfile.objects.filter(user=user).exists()
    method = AuthMethod.objects.get(user=user)
    assert (method.type, method.identifier, method.verified) == ("phone", PHONE, True)
    session = SovereignSession.objects.get(pk=out["session_id"])
    assert session.device_fingerprint == "pixel-8" and session.is_active
    assert session.token_hash != out["session_token"] and out["session_token"] not in session.token_hash

    me = APIClient()
    me.credentials(HTTP_AUTHORIZATION=f"Bearer {out['session_token']}")
    answer = me.get("/api/v1/identity/me")
    assert answer.status_code == 200
    assert answer.json()["phone"] == PHONE and answer.json()["id"] == str(user.pk)

    audit_sequence()
    types = list(AuditEvent.objects.order_by("sequence").values_list("type", flat=True))
    assert types == ["OTP_STARTED", "OTP_SENT", "IDENTITY_CREATED", "OTP_VERIFIED", "SESSION_OPENED"]


def test_second_sign_in_finds_the_same_user(sign_in):
    first = sign_in(PHONE)
    second = sign_in(PHONE)
    assert second["user_id"] == first["user_id"] and second["is_new_user"] is False
    assert second["session_id"] != first["session_id"]
    assert User.objects.count() == 1


def test_token_has_at_least_128_bits_and_only_its_hash_is_stored(sign_in):
    out = sign_in(PHONE)
    token = out["session_token"].removeprefix("pq_st_")
    assert len(token) * 6 >= 128
    assert not SovereignSession.objects.filter(token_hash__contains=token).exists()


@pytest.mark.parametrize("phone", ["", "12345", "+55 11 1234", "not a phone", "+999123456789", "5511987654321"])
def test_invalid_phone_is_400_naming_the_field(api_client, phone):
    response = start(api_client, phone=phone)
    assert response.status_code == 400
    assert "phone" in response.json()["error"]["fields"]


def test_unknown_channel_is_400(api_client):
    response = start(api_client, channel="pigeon")
    assert response.status_code == 400 and "channel" in response.json()["error"]["fields"]


def test_whatsapp_channel_is_kept(api_client, run_jobs, otp_outbox):
    assert start(api_client, channel="whatsapp").json()["channel"] == "whatsapp"
    run_jobs()
    assert otp_outbox.messages()[0]["channel"] == "whatsapp"


def test_wrong_code_is_400_with_attempts_left_then_burned_410(api_client, run_jobs, otp_outbox):
    vid = start(api_client).json()["verification_id"]
    run_jobs()
    bad = wrong(otp_outbox.code_for(vid))
    for left in (4, 3, 2, 1, 0):
        response = api_client.post(VERIFY, {"verification_id": vid, "code": bad})
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_code"
        assert response.json()["error"]["attempts_left"] == left
    response = api_client.post(VERIFY, {"verification_id": vid, "code": otp_outbox.code_for(vid)})
    assert response.status_code == 410 and response.json()["error"]["code"] == "verification_burned"
    assert PendingVerification.objects.get(pk=vid).attempts == 5


def test_malformed_code_is_a_validation_error_and_not_counted(api_client):
    vid = start(api_client).json()["verification_id"]
    response = api_client.post(VERIFY, {"verification_id": vid, "code": "12ab"})
    assert response.status_code == 400 and "code" in response.json()["error"]["fields"]
    assert PendingVerification.objects.get(pk=vid).attempts == 0


def test_unknown_verification_is_404(api_client):
    response = api_client.post(VERIFY, {"verification_id": "00000000-0000-4000-8000-000000000000",
                                        "code": "123456"})
    assert response.status_code == 404


def test_code_reuse_is_refused(api_client, run_jobs, otp_outbox):
    vid = start(api_client).json()["verification_id"]
    run_jobs()
    code = otp_outbox.code_for(vid)
    assert api_client.post(VERIFY, {"verification_id": vid, "code": code}).status_code == 200
    again = api_client.post(VERIFY, {"verification_id": vid, "code": code})
    assert again.status_code == 410 and again.json()["error"]["code"] == "verification_used"
    assert SovereignSession.objects.count() == 1


def test_a_code_works_only_for_its_own_verification(api_client, run_jobs, otp_outbox):
    """The stored hash is keyed and bound to its verification's id: even the very same stored hash, copied onto
    another verification, does not take that code there."""
    first = start(api_client).json()["verification_id"]
    second = start(api_client).json()["verification_id"]
    run_jobs()
    code = otp_outbox.code_for(first)
    PendingVerification.objects.filter(pk=second).update(
        code_hash=PendingVerification.objects.get(pk=first).code_hash)
    response = api_client.post(VERIFY, {"verification_id": second, "code": code})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_code"
    assert api_client.post(VERIFY, {"verification_id": first, "code": code}).status_code == 200


def test_the_stored_hash_is_the_keyed_hash_of_the_verification_and_code(api_client, run_jobs, otp_outbox):
    from identity.crypto import keyed_hash

    vid = start(api_client).json()["verification_id"]
    run_jobs()
    code = otp_outbox.code_for(vid)
    stored = PendingVerification.objects.get(pk=vid).code_hash
    assert stored == keyed_hash("otp-code", f"{vid}:{code}")
    assert stored not in (keyed_hash("otp-code", code), code)


def test_codes_come_from_the_csprng(api_client, monkeypatch):
    import secrets

    drawn = []
    real = secrets.randbelow

    def spy(n):
        drawn.append(n)
        return real(n)

    monkeypatch.setattr(secrets, "randbelow", spy)
    start(api_client)
    assert drawn == [1_000_000]


def test_codes_are_compared_in_constant_time(api_client, run_jobs, otp_outbox, monkeypatch):
    import hmac

    compared = []
    real = hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    vid = start(api_client).json()["verification_id"]
    run_jobs()
    code = otp_outbox.code_for(vid)
    api_client.post(VERIFY, {"verification_id": vid, "code": wrong(code)})
    assert api_client.post(VERIFY, {"verification_id": vid, "code": code}).status_code == 200
    stored = PendingVerification.objects.get(pk=vid).code_hash.encode()
    assert len(compared) == 2 and all(stored in pair for pair in compared)


@pytest.mark.parametrize("typed", [
    str.maketrans("0123456789", "".join(chr(0xFF10 + d) for d in range(10))),  # full-width
    str.maketrans("0123456789", "".join(chr(0x0660 + d) for d in range(10))),  # Arabic-Indic
], ids=["full-width", "arabic-indic"])
def test_the_right_code_typed_in_other_digits_is_the_right_code(api_client, run_jobs, otp_outbox, typed):
    vid = start(api_client).json()["verification_id"]
    run_jobs()
    response = api_client.post(VERIFY, {"verification_id": vid, "code": otp_outbox.code_for(vid).translate(typed)})
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("code", ["12345", "1234567", "12 345", "\uff11\uff12\uff13\uff14\uff15x", "\u00bd12345",
                                  "\u0661\u0662\u0663", "12345\u00b2"])
def test_a_code_that_is_not_six_digits_is_refused_without_counting(api_client, code):
    vid = start(api_client).json()["verification_id"]
    response = api_client.post(VERIFY, {"verification_id": vid, "code": code})
    assert response.status_code == 400 and list(response.json()["error"]["fields"]) == ["code"]
    assert PendingVerification.objects.get(pk=vid).attempts == 0
    assert not RateLimitEntry.objects.filter(action="otp_failure").exists()


def test_a_code_lives_at_most_ten_minutes_whatever_the_settings_say(api_client, settings):
    settings.OTP_CODE_TTL_SECONDS = 3600  # refused at start-up; changed at run time, it is capped
    verification = PendingVerification.objects.get(pk=start(api_client).json()["verification_id"])
    assert (verification.expires_at - verification.created_at).total_seconds() == 600


@pytest.mark.parametrize("ttl", ["0", "601", "3600"])
def test_the_settings_refuse_a_code_lifetime_out_of_bounds(ttl):
    import os
    import subprocess
    import sys

    env = {**os.environ, "OTP_CODE_TTL_SECONDS": ttl, "DEBUG": "true"}
    result = subprocess.run([sys.executable, "-c", "import django; django.setup()"], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode != 0 and "OTP_CODE_TTL_SECONDS must be between 1 and 600" in result.stderr


def test_expiry_at_ttl_plus_one_second(api_client, run_jobs, otp_outbox, clock, settings):
    settings.OTP_CODE_TTL_SECONDS = 300
    early = start(api_client).json()["verification_id"]
    late = start(api_client).json()["verification_id"]
    run_jobs()
    clock.advance(299)
    assert api_client.post(VERIFY, {"verification_id": early, "code": otp_outbox.code_for(early)}).status_code == 200
    clock.advance(2)  # TTL + 1 s
    response = api_client.post(VERIFY, {"verification_id": late, "code": otp_outbox.code_for(late)})
    assert response.status_code == 410 and response.json()["error"]["code"] == "verification_expired"


def test_expired_verifications_are_not_sent(api_client, run_jobs, otp_outbox, clock):
    start(api_client)
    clock.advance(301)
    run_jobs()
    assert otp_outbox.messages() == []
    assert PendingVerification.objects.get().delivery_status == "skipped"


def test_a_delivered_job_run_again_sends_nothing_more(api_client, otp_outbox):
    from infrastructure.services.jobs import job_type

    start(api_client)
    job = Job.objects.get()
    job_type(job.type).handler(job)
    job_type(job.type).handler(job)
    assert len(otp_outbox.messages()) == 1


def test_enumeration_known_and_unknown_phones_answer_alike(api_client, sign_in, run_jobs, otp_outbox):
    known, unknown = "+5511987650001", "+5511987650002"
    sign_in(known)
    answers = {}
    for phone in (known, unknown):
        started = start(api_client, phone=phone, ip=f"198.51.100.{len(answers) + 1}")
        run_jobs()
        vid = started.json()["verification_id"]
        bad = api_client.post(VERIFY, {"verification_id": vid, "code": wrong(otp_outbox.code_for(vid))})
        answers[phone] = (started.status_code, sorted(started.json()), started.json()["channel"],
                          bad.status_code, bad.json()["error"]["code"], bad.json()["error"]["attempts_left"],
                          sorted(bad.json()["error"]))
    assert answers[known] == answers[unknown]


# Limits -----------------------------------------------------------------------------------------------------------

def test_sends_per_phone_are_limited_and_a_new_verification_never_resets_them(api_client, settings):
    settings.OTP_SEND_LIMIT_PER_PHONE = 5
    for i in range(5):
        assert start(api_client, ip=f"192.0.2.{i}").status_code == 201
    refused = start(api_client, ip="192.0.2.99")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "otp_rate_limited" and refused.json()["error"]["limit"] == "phone"
    assert 3500 <= int(refused["Retry-After"]) <= 3600
    assert PendingVerification.objects.count() == 5
    entry = RateLimitEntry.objects.get(key=f"phone:{PHONE}", action="otp_send")
    assert entry.attempt_count == 5 and entry.blocked_until is not None


def test_send_window_passes(api_client, settings, clock):
    settings.OTP_SEND_LIMIT_PER_PHONE = 2
    assert start(api_client).status_code == 201
    assert start(api_client).status_code == 201
    assert start(api_client).status_code == 429
    clock.advance(settings.OTP_SEND_WINDOW_SECONDS)
    assert start(api_client).status_code == 201


def test_sends_per_ip_are_limited(api_client, settings):
    settings.OTP_SEND_LIMIT_PER_IP = 3
    for i in range(3):
        assert start(api_client, phone=f"+55119876{i:05d}", ip="198.51.100.9").status_code == 201
    refused = start(api_client, phone="+5521987650000", ip="198.51.100.9")
    assert refused.status_code == 429 and refused.json()["error"]["limit"] == "ip"
    assert int(refused["Retry-After"]) > 0
    assert start(api_client, phone="+5521987650000", ip="198.51.100.10").status_code == 201


def test_sends_per_number_prefix_are_capped(api_client, settings):
    """SMS pumping: many numbers of one operator block (all but the last 4 digits) from many addresses."""
    settings.OTP_SEND_LIMIT_PER_PREFIX = 4
    for i in range(4):
        assert start(api_client, phone=f"+551198765{i:04d}", ip=f"192.0.2.{i}").status_code == 201
    refused = start(api_client, phone="+5511987659999", ip="192.0.2.200")
    assert refused.status_code == 429 and refused.json()["error"]["limit"] == "prefix"
    assert start(api_client, phone="+5511987669999", ip="192.0.2.201").status_code == 201


def test_a_refused_start_counts_against_no_limit(api_client, settings):
    settings.OTP_SEND_LIMIT_PER_IP = 1
    assert start(api_client, ip="192.0.2.1").status_code == 201
    assert start(api_client, ip="192.0.2.1").status_code == 429
    assert RateLimitEntry.objects.get(key=f"phone:{PHONE}", action="otp_send").attempt_count == 1


def _burn(phone: str, count: int, outbox, run_jobs) -> None:
    """``count`` wrong codes for ``phone`` across as many verifications as needed."""
    while count > 0:
        verification = otp_start(phone=phone, channel="sms", ip=None)
        run_jobs()
        bad = wrong(outbox.code_for(verification.pk))
        for _ in range(min(5, count)):
            try:
                otp_verify(verification_id=str(verification.pk), code=bad)
            except Exception as exc:  # noqa: BLE001 - every wrong code raises; the type is checked below
                assert getattr(exc, "code", "") in ("invalid_code", "phone_blocked"), exc
            count -= 1


def test_one_hundred_consecutive_failures_block_the_phone_until_cleared(api_client, settings, otp_outbox, run_jobs):
    settings.OTP_SEND_LIMIT_PER_PHONE = settings.OTP_SEND_LIMIT_PER_PREFIX = 1000
    assert settings.OTP_FAILURE_BLOCK_THRESHOLD == 100
    pending = otp_start(phone=PHONE, channel="sms", ip=None)
    _burn(PHONE, 99, otp_outbox, run_jobs)
    assert start(api_client).status_code == 201  # 99 failures: not yet
    _burn(PHONE, 1, otp_outbox, run_jobs)
    refused = start(api_client)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "phone_blocked"
    assert int(refused["Retry-After"]) > 0
    run_jobs()
    # Even the right code of a verification started before the block is refused.
    right = api_client.post(VERIFY, {"verification_id": str(pending.pk), "code": otp_outbox.code_for(pending.pk)})
    assert right.status_code == 429

    entry = RateLimitEntry.objects.get(key=f"phone:{PHONE}", action="otp_failure")
    assert entry.blocked_reason == "failures" and entry.attempt_count == 100
    rate_limit_clear(entry=entry, reason="customer called")
    assert start(api_client).status_code == 201
    right = api_client.post(VERIFY, {"verification_id": str(pending.pk), "code": otp_outbox.code_for(pending.pk)})
    assert right.status_code == 200


def test_a_success_resets_the_consecutive_failure_count(settings, otp_outbox, run_jobs, sign_in):
    settings.OTP_SEND_LIMIT_PER_PHONE = settings.OTP_SEND_LIMIT_PER_PREFIX = 1000
    _burn(PHONE, 99, otp_outbox, run_jobs)
    sign_in(PHONE)
    _burn(PHONE, 5, otp_outbox, run_jobs)
    entry = RateLimitEntry.objects.get(key=f"phone:{PHONE}", action="otp_failure")
    assert entry.attempt_count == 5 and entry.blocked_until is None


def test_rate_limit_refusals_raise_with_retry_after(settings):
    settings.OTP_SEND_LIMIT_PER_PHONE = 1
    otp_start(phone=PHONE, ip=None)
    with pytest.raises(TooManyRequests) as refused:
        otp_start(phone=PHONE, ip=None)
    assert int(refused.value.headers["Retry-After"]) > 0


def test_suspended_user_with_the_right_code_gets_no_session(api_client, sign_in, run_jobs, otp_outbox):
    from identity.services.sessions import user_set_status

    user = User.objects.get(pk=sign_in(PHONE)["user_id"])
    user_set_status(user=user, status="suspended", reason="chargebacks")
    vid = start(api_client).json()["verification_id"]
    run_jobs()
    response = api_client.post(VERIFY, {"verification_id": vid, "code": otp_outbox.code_for(vid)})
    assert response.status_code == 403 and response.json()["error"]["code"] == "user_inactive"
    assert SovereignSession.objects.filter(user=user, is_active=True).count() == 0
