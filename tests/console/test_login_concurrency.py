"""Console sign-in lockouts under parallel guesses, each request on its own PostgreSQL connection.

The attack: many wrong passwords (or second-factor codes) sent at once, so that every request passes the lockout
check before any of them has counted its failure. What is counted here is the checking itself, seen from outside
our code: Django's ``user_login_failed`` signal (sent once for each password that ``authenticate`` checked and
found wrong) and django-otp's TOTP ``verify`` (called once for each code checked). However many guesses arrive
together, exactly the limit is checked.
"""
from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth.signals import user_login_failed
from django.db import connections
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from identity.models import RateLimitEntry, User
from tests.clients import Client
from tests.console.test_login import PASSWORD, code_for, sign_in, wrong_code

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

# The server allows 100 connections and other test runs share it: 40 requests, each on its own connection.
GUESSES = 40
LIMIT = 5


class Tally:
    """A thread-safe count of the guesses that were actually checked."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def __call__(self, *args, **kwargs) -> None:
        with self._lock:
            self.count += 1


@pytest.fixture
def passwords_checked():
    tally = Tally()
    user_login_failed.connect(tally, dispatch_uid="console-lockout-tally")
    yield tally
    user_login_failed.disconnect(dispatch_uid="console-lockout-tally")


@pytest.fixture
def codes_checked(monkeypatch):
    tally, verify = Tally(), TOTP.verify

    def counted(self, *args, **kwargs):
        tally()
        return verify(self, *args, **kwargs)

    monkeypatch.setattr(TOTP, "verify", counted)
    return tally


def _all_at_once(clients: list[Client], send) -> Counter:
    barrier = threading.Barrier(len(clients))

    def worker(index: int) -> int:
        try:
            barrier.wait(timeout=60)
            return send(clients[index], index).status_code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(len(clients)) as pool:
        return Counter(pool.map(worker, range(len(clients))))


@pytest.fixture
def operator():
    user = User.objects.create_user("operator", PASSWORD, role=User.Role.ADMIN)
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    return user, device


def entry(key: str) -> RateLimitEntry:
    return RateLimitEntry.objects.get(key=key, action=RateLimitEntry.Action.CONSOLE_LOGIN)


def test_40_parallel_wrong_passwords_check_exactly_the_username_limit(operator, settings, passwords_checked):
    settings.CONSOLE_LOGIN_MAX_FAILURES = LIMIT
    settings.CONSOLE_LOGIN_MAX_FAILURES_PER_IP = 1000

    statuses = _all_at_once([Client() for _ in range(GUESSES)],
                            lambda client, i: sign_in(client, "operator", f"wrong-password-{i}"))

    assert passwords_checked.count == LIMIT
    # The guesses beyond the limit were refused; the one that reached it was checked, then locked the username.
    assert statuses == Counter({200: LIMIT - 1, 429: GUESSES - LIMIT + 1})
    locked = entry("console-user:operator")
    assert locked.is_blocked() and locked.attempt_count == LIMIT
    # The right password is refused too while the lock lasts, and is not even checked.
    assert sign_in(Client(), "operator").status_code == 429
    assert passwords_checked.count == LIMIT


def test_40_parallel_wrong_passwords_for_many_usernames_check_exactly_the_address_limit(settings,
                                                                                        passwords_checked):
    settings.CONSOLE_LOGIN_MAX_FAILURES = 5
    settings.CONSOLE_LOGIN_MAX_FAILURES_PER_IP = 8

    statuses = _all_at_once([Client() for _ in range(GUESSES)],
                            lambda client, i: sign_in(client, f"nobody-{i}", "wrong-password"))

    assert passwords_checked.count == 8
    assert statuses == Counter({200: 7, 429: GUESSES - 7})
    assert entry("console-ip:127.0.0.1").is_blocked()


@pytest.mark.parametrize("step", ["admin:second_factor", "admin:second_factor_enrol"])
def test_40_parallel_wrong_codes_check_exactly_the_limit(operator, settings, codes_checked, step):
    settings.CONSOLE_LOGIN_MAX_FAILURES = LIMIT
    user, device = operator
    if step == "admin:second_factor_enrol":
        TOTPDevice.objects.filter(pk=device.pk).update(confirmed=False)
    clients = []
    for _ in range(GUESSES):  # forty sessions that each gave the right password
        client = Client()
        client.force_login(user, verified=False)
        clients.append(client)
    bad = wrong_code(device)

    statuses = _all_at_once(clients, lambda client, i: client.post(reverse(step), {"token": bad}))

    assert codes_checked.count == LIMIT
    assert statuses == Counter({200: LIMIT - 1, 429: GUESSES - LIMIT + 1})
    assert entry("console-user:operator").is_blocked()
    # Even the right code is now refused without being checked.
    assert clients[0].post(reverse(step), {"token": code_for(device)}).status_code == 429
    assert codes_checked.count == LIMIT


def test_a_right_password_sent_among_wrong_ones_does_not_use_up_a_guess(operator, settings, passwords_checked):
    """A guess counts while it is being checked, and is given back once it proves right: a person signing in
    while someone else guesses costs the limit nothing."""
    settings.CONSOLE_LOGIN_MAX_FAILURES = LIMIT
    settings.CONSOLE_LOGIN_MAX_FAILURES_PER_IP = 1000
    clients = [Client() for _ in range(LIMIT - 1)]

    statuses = _all_at_once(clients, lambda client, i: sign_in(client, "operator",
                                                                PASSWORD if i == 0 else f"wrong-{i}"))

    assert statuses == Counter({302: 1, 200: LIMIT - 2})
    assert passwords_checked.count == LIMIT - 2
    counted = entry("console-user:operator")
    assert counted.attempt_count == LIMIT - 2 and not counted.is_blocked()
    assert entry("console-ip:127.0.0.1").attempt_count == LIMIT - 2
