"""Identity figures: OTP verify with and without its code check, and an app-authenticated read vs B_http."""
from __future__ import annotations

import secrets
from datetime import timedelta

from bench.harness import Context, measure
from bench.load import start_gunicorn, wrk

PHONES = [f"+55119876{i:05d}" for i in range(20)]
# wrk runs 2 threads (bench.load.wrk); each takes every other verification of the pool.
WRK_THREADS = 2


def _app_read_setup(ctx: Context) -> dict:
    if "identity_app" not in ctx.state:
        from identity.models import Scope
        from identity.services.apps import app_create, app_user_link, credential_issue
        from identity.services.users import identity_get_or_create

        owner, _ = identity_get_or_create(phone="+5511987600000", source="admin", verified=True)
        app = app_create(owner=owner, name=f"Bench {secrets.token_hex(4)}")
        issued = credential_issue(app=app, name="bench", scopes=list(Scope.values))
        app_user_link(app=app, external_user_id="bench-user", phone="+5511987600001")
        import base64

        header = "Basic " + base64.b64encode(f"{issued.credential.public_key}:{issued.secret}".encode()).decode()
        ctx.state["identity_app"] = {"header": header}
    return ctx.state["identity_app"]


def _server(ctx: Context, key: str, wsgi: str) -> str:
    if key not in ctx.state:
        url = start_gunicorn(wsgi)
        # Each worker loads the URL configuration and the API modules on its first request; warm every worker
        # up (an authenticated API read) so that the first sample does not measure imports.
        header = _app_read_setup(ctx)["header"]
        wrk(url + "/api/v1/app/users/bench-user", 2, headers={"Authorization": header})
        ctx.state[key] = url
    return ctx.state[key]


def _verification_pool(ctx: Context) -> list[tuple[str, str]]:
    """Fresh pending verifications with known codes, more than one sample can use."""
    import uuid

    from django.utils import timezone

    from identity.models import PendingVerification
    from identity.services.otp import otp_code_hash
    from identity.services.users import identity_get_or_create

    if "identity_phones" not in ctx.state:
        for phone in PHONES:
            identity_get_or_create(phone=phone, source="admin", verified=True)
        ctx.state["identity_phones"] = True
    count = int(1200 * max(1.0, ctx.seconds))
    expires = timezone.now() + timedelta(minutes=10)
    rows, pool = [], []
    for i in range(count):
        vid, code = uuid.uuid4(), f"{secrets.randbelow(1_000_000):06d}"
        rows.append(PendingVerification(verification_id=vid, phone_number=PHONES[i % len(PHONES)],
                                        code_hash=otp_code_hash(verification_id=str(vid), code=code),
                                        expires_at=expires))
        pool.append((str(vid), code))
    PendingVerification.objects.bulk_create(rows, batch_size=2000)
    return pool


def _verify_script(pool: list[tuple[str, str]]) -> str:
    entries = ",\n".join(f'{{"{vid}","{code}"}}' for vid, code in pool)
    return f"""
local pool = {{
{entries}
}}
local next_thread = 0
function setup(thread)
  thread:set("offset", next_thread)
  next_thread = next_thread + 1
end
local n = 0
function request()
  local item = pool[offset + n * {WRK_THREADS} + 1]
  n = n + 1
  local body = '{{"verification_id":"' .. item[1] .. '","code":"' .. item[2] .. '","device_fingerprint":"bench"}}'
  return wrk.format("POST", "/api/v1/identity/otp/verify", {{["Content-Type"] = "application/json"}}, body)
end
"""


def _verify(ctx: Context, key: str, wsgi: str) -> float:
    url = _server(ctx, key, wsgi)
    return wrk(url + "/api/v1/identity/otp/verify", ctx.seconds, lua=_verify_script(_verification_pool(ctx)))


@measure("identity_otp_verify_stub", unit="req/s", group="identity",
         description="POST /identity/otp/verify (sign-in and session) with the code check stubbed out")
def otp_verify_stub(ctx: Context) -> float:
    return _verify(ctx, "identity_stub_url", "bench.identity_stub_wsgi:application")


@measure("identity_otp_verify", unit="req/s", group="identity", baseline="identity_otp_verify_stub",
         goal=(">=", 0.8), description="POST /identity/otp/verify (keyed hash, constant-time compare, sign-in)")
def otp_verify(ctx: Context) -> float:
    return _verify(ctx, "identity_url", "prostqs.wsgi:application")


@measure("identity_app_read", unit="req/s", group="identity", baseline="B_http", goal=(">=", 0.35),
         description="GET /app/users/{external_user_id} with app credentials (1 query)")
def app_read(ctx: Context) -> float:
    setup = _app_read_setup(ctx)
    url = _server(ctx, "identity_url", "prostqs.wsgi:application")
    return wrk(url + "/api/v1/app/users/bench-user", ctx.seconds, headers={"Authorization": setup["header"]})
