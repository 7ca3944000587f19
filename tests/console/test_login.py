"""Signing in to the console: password, then a TOTP code (enrolment for staff without a device), attempt limits
counted in the database, sessions that expire."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from identity.models import RateLimitEntry, User
from tests.clients import Client

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-console-password-1"


def code_for(device: TOTPDevice, *, offset_steps: int = 0) -> str:
    totp = TOTP(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    totp.time = time.time() + offset_steps * device.step
    return f"{totp.token():0{device.digits}d}"


def wrong_code(device: TOTPDevice) -> str:
    good = {code_for(device, offset_steps=s) for s in (-2, -1, 0, 1, 2)}
    return next(c for c in ("000000", "111111", "222222", "333333", "444444", "555555", "666666") if c not in good)


@pytest.fixture
def staff(db):
    return User.objects.create_user("operator", PASSWORD, role=User.Role.ADMIN)


@pytest.fixture
def enrolled(staff):
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    return staff, device


def sign_in(client: Client, username: str, password: str = PASSWORD, next_url: str = "/admin/"):
    return client.post(reverse("admin:login") + f"?next={next_url}",
                       {"username": username, "password": password, "next": next_url})


def test_a_password_alone_does_not_open_the_console(client, enrolled):
    _, device = enrolled
    response = sign_in(client, "operator")
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:second_factor"))
    index = client.get(reverse("admin:index"))
    assert index.status_code == 302 and reverse("admin:login") in index["Location"]
    assert client.get(reverse("admin:login")).status_code == 302  # back to the second factor
    page = client.get(response["Location"])
    assert page.status_code == 200 and b'name="token"' in page.content
    bad = client.post(response["Location"], {"token": wrong_code(device), "next": "/admin/"})
    assert bad.status_code == 200 and b"not right" in bad.content
    assert client.get(reverse("admin:index")).status_code == 302
    good = client.post(response["Location"], {"token": code_for(device), "next": "/admin/"})
    assert good.status_code == 302 and good["Location"] == "/admin/"
    assert client.get(reverse("admin:index")).status_code == 200


def test_staff_without_a_device_enrol_with_a_qr_code_and_the_secret(client, staff, audit_log):
    response = sign_in(client, "operator")
    step = client.get(response["Location"])
    assert step.status_code == 302 and step["Location"].startswith(reverse("admin:second_factor_enrol"))
    page = client.get(step["Location"])
    device = TOTPDevice.objects.get(user=staff)
    assert not device.confirmed
    body = page.content.decode()
    assert "<svg" in body and "otpauth://totp/" in body
    import base64

    assert base64.b32encode(device.bin_key).decode().rstrip("=") in body
    assert client.get(step["Location"]).status_code == 200
    assert TOTPDevice.objects.filter(user=staff).count() == 1  # reloading keeps the same secret
    assert client.post(step["Location"], {"token": wrong_code(device)}).status_code == 200
    assert client.get(reverse("admin:index")).status_code == 302
    done = client.post(step["Location"], {"token": code_for(device), "next": "/admin/"})
    assert done.status_code == 302
    device.refresh_from_db()
    assert device.confirmed
    assert client.get(reverse("admin:index")).status_code == 200
    audit_log.assert_recorded("CONSOLE_SECOND_FACTOR_ENROLLED", target_id=staff.pk)


def test_an_enrolled_person_cannot_enrol_another_device(client, enrolled):
    client.force_login(enrolled[0], verified=False)
    response = client.get(reverse("admin:second_factor_enrol"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:second_factor"))
    assert TOTPDevice.objects.filter(user=enrolled[0]).count() == 1


def test_phone_users_never_reach_the_second_factor_pages(client):
    user = User.objects.create_user("phone-user", PASSWORD)
    client.force_login(user)
    for name in ("admin:second_factor", "admin:second_factor_enrol"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))


def test_wrong_passwords_lock_the_username_out_and_say_so(client, enrolled, settings, audit_log):
    settings.CONSOLE_LOGIN_MAX_FAILURES = 3
    for _ in range(2):
        assert sign_in(client, "operator", "wrong-password").status_code == 200
    locked = sign_in(client, "operator", "wrong-password")
    assert locked.status_code == 429 and b"locked" in locked.content
    # Even the right password is refused while the lock lasts, for that username.
    again = sign_in(client, "operator")
    assert again.status_code == 429
    assert client.get(reverse("admin:index")).status_code == 302
    entry = RateLimitEntry.objects.get(key="console-user:operator", action="console_login")
    assert entry.is_blocked()
    audit_log.assert_recorded("CONSOLE_LOGIN_LOCKED", target_id=entry.pk)
    # When the lock has passed, the right password works again; the count resets once the code is right too.
    RateLimitEntry.objects.filter(pk=entry.pk).update(blocked_until=timezone.now() - timedelta(seconds=1))
    step = sign_in(client, "operator")
    assert step.status_code == 302
    entry.refresh_from_db()
    # A served lockout starts a new window, and the right password's guess is given back once it proved right.
    assert entry.attempt_count == 0 and not entry.is_blocked()
    assert client.post(step["Location"], {"token": wrong_code(enrolled[1])}).status_code == 200
    entry.refresh_from_db()
    assert entry.attempt_count == 1  # a wrong code after the right password counts
    client.post(step["Location"], {"token": code_for(enrolled[1])})
    entry.refresh_from_db()
    assert entry.attempt_count == 0 and not entry.is_blocked()
    assert client.get(reverse("admin:index")).status_code == 200


def test_wrong_codes_count_too_and_the_right_password_does_not_reset_them(client, enrolled, settings):
    settings.CONSOLE_LOGIN_MAX_FAILURES = 3
    _, device = enrolled
    step = sign_in(client, "operator")["Location"]
    assert client.post(step, {"token": wrong_code(device)}).status_code == 200
    client.post(reverse("admin:logout"))
    step = sign_in(client, "operator")["Location"]  # the password again: the wrong code still counts
    assert client.post(step, {"token": wrong_code(device)}).status_code == 200
    assert client.post(step, {"token": wrong_code(device)}).status_code == 429
    assert client.post(step, {"token": code_for(device)}).status_code == 429
    assert client.get(reverse("admin:index")).status_code == 302


def test_one_address_trying_many_usernames_is_locked_out(client, db, settings):
    settings.CONSOLE_LOGIN_MAX_FAILURES_PER_IP = 4
    for i in range(3):
        assert sign_in(client, f"nobody-{i}", "x").status_code == 200
    assert sign_in(client, "nobody-3", "x").status_code == 429
    assert RateLimitEntry.objects.filter(key__startswith="console-ip:", action="console_login").get().is_blocked()


def test_sessions_expire(client, enrolled, settings):
    _, device = enrolled
    step = sign_in(client, "operator")["Location"]
    client.post(step, {"token": code_for(device)})
    session = client.session
    assert session.get_expiry_age() == settings.SESSION_COOKIE_AGE <= 8 * 3600
    assert session.get_expire_at_browser_close() is settings.SESSION_EXPIRE_AT_BROWSER_CLOSE is True
    assert client.get(reverse("admin:index")).status_code == 200
    Session.objects.filter(session_key=session.session_key).update(expire_date=timezone.now() - timedelta(seconds=1))
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302 and reverse("admin:login") in response["Location"]


def test_history_pages_refuse_posts_for_everyone(client, db):
    from infrastructure.models import KillSwitch

    admin = User.objects.create_user("root", role=User.Role.SUPER_ADMIN)
    client.force_login(admin)
    switch = KillSwitch.objects.get(scope="ads")
    from infrastructure.services.killswitches import killswitch_activate

    killswitch_activate("ads", reason="history check", actor=admin)
    history = switch.history.order_by("history_id").first()
    url = reverse("admin:infrastructure_killswitch_simple_history", args=[switch.pk, history.history_id])
    assert client.get(url).status_code == 200
    assert client.post(url, {}).status_code == 403


def test_demo_admin_prints_a_working_second_factor(settings, tmp_path, monkeypatch, capsys):
    from django.core.management import call_command

    from console.management.commands import demo_admin

    monkeypatch.setattr(demo_admin, "CREDENTIALS_FILE", tmp_path / "admin.json")
    settings.DEBUG = True
    call_command("demo_admin")
    first = capsys.readouterr().out
    call_command("demo_admin")
    assert TOTPDevice.objects.filter(user__username="admin", confirmed=True).count() == 1
    device = TOTPDevice.objects.get(user__username="admin")
    assert "TOTP secret:" in first and device.config_url in first
    call_command("demo_admin", "--code")
    code = capsys.readouterr().out.strip().splitlines()[-1]
    assert device.verify_token(code)
    # And the whole sign-in works with what was printed.
    import json

    stored = json.loads((tmp_path / "admin.json").read_text())
    client = Client()
    step = sign_in(client, "admin", stored["password"])["Location"]
    device.refresh_from_db()
    client.post(step, {"token": code_for(device, offset_steps=1)})
    assert client.get(reverse("admin:index")).status_code == 200
