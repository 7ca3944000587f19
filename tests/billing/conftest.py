"""Billing fixtures: users and accounts, kill switches, Stripe's test doubles (``run_jobs`` is in tests/conftest.py)."""
from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time

import pytest
import stripe

from tests.billing.helpers import WEBHOOK_SECRET, free_port, sign, wait_for_port

_counter = itertools.count(1)


@pytest.fixture
def make_user(db):
    from identity.models import User

    def make(**extra):
        return User.objects.create_user(username=f"billing-user-{next(_counter)}-{time.monotonic_ns()}", **extra)

    return make


@pytest.fixture
def make_account(make_user):
    """An open account, credited with ``balance`` cents through the posting service (as ``tenant_id``'s funds when
    given, else as staff's money, which no tenant moves)."""
    from billing.services.accounts import account_open
    from billing.services.ledger import ledger_post

    def make(balance: int = 0, tenant_id=None, **extra):
        account, _ = account_open(user=make_user(), **extra)
        if balance:
            ledger_post(account_id=account.pk, type="credit", amount=balance, description="opening balance",
                        tenant_id=tenant_id)
            account.refresh_from_db()
        return account

    return make


@pytest.fixture
def halt(db):
    """``halt(scope)`` activates a kill switch through the infrastructure service; ``halt.lift(scope)`` lifts it."""
    from infrastructure.services.killswitches import killswitch_activate, killswitch_deactivate

    class Switches:
        def __call__(self, scope: str = "billing") -> None:
            killswitch_activate(scope, reason="halted by a test", actor=None)

        def lift(self, scope: str = "billing") -> None:
            killswitch_deactivate(scope, reason="lifted by a test", actor=None)

    return Switches()


@pytest.fixture
def webhooks_on(settings):
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    return settings


@pytest.fixture
def post_webhook(client, webhooks_on):
    def post(evt: dict | str, *, signature: str | None = None, timestamp: int | None = None):
        body = evt if isinstance(evt, str) else json.dumps(evt)
        header = signature if signature is not None else sign(body, timestamp=timestamp)
        return client.post("/api/v1/billing/webhooks/stripe", data=body, content_type="application/json",
                           HTTP_STRIPE_SIGNATURE=header)

    return post


@pytest.fixture(scope="session")
def localstripe_url(tmp_path_factory):
    """localstripe (a fake Stripe server from PyPI) in a subprocess on a free port."""
    port = free_port()
    log = tmp_path_factory.mktemp("localstripe") / "localstripe.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "localstripe", "--port", str(port), "--from-scratch"],
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def stripe_on(settings, localstripe_url, webhooks_on):
    """Billing talks to localstripe through the real ``stripe`` client."""
    settings.STRIPE_SECRET_KEY = "sk_test_localstripe"
    settings.STRIPE_API_BASE = localstripe_url
    return settings


@pytest.fixture
def stripe_api(stripe_on):
    """A client of the same fake server, playing the customer's side (payment methods, confirmations)."""
    return stripe.StripeClient("sk_test_localstripe", base_addresses={"api": stripe_on.STRIPE_API_BASE},
                               max_network_retries=0)


@pytest.fixture
def billing_app(db):
    """An application of a fresh tenant with a ``billing`` credential (and a webhook URL if given), and helpers for
    its users and client."""
    import base64

    from identity.models import User
    from identity.services.apps import app_create, app_user_link, credential_issue
    from identity.services.webhooks import webhook_secret_generate
    from tests.clients import APIClient

    class Tenant:
        def __init__(self, scopes=("billing",), webhook_url=""):
            self.owner = User.objects.create_user(username=f"tenant-{next(_counter)}-{time.monotonic_ns()}")
            self.webhook_secret = webhook_secret_generate()
            self.app = app_create(owner=self.owner, name=f"Billing app {next(_counter)}", webhook_url=webhook_url,
                                  webhook_secret=self.webhook_secret)
            issued = credential_issue(app=self.app, name="test", scopes=list(scopes))
            token = base64.b64encode(f"{issued.credential.public_key}:{issued.secret}".encode()).decode()
            self.authorization = f"Basic {token}"
            self.client = self.new_client()

        def new_client(self) -> APIClient:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=self.authorization)
            return client

        def claim(self, external_user_id: str | None = None, phone: str | None = None):
            """A user linked to the app by phone and not proven: a claim (the app may not act on them)."""
            n = next(_counter)
            app_user, _ = app_user_link(app=self.app, external_user_id=external_user_id or f"ext-{n}",
                                        phone=phone or f"+55119{n % 100_000_000:08d}")
            return app_user

        def user(self, external_user_id: str | None = None, phone: str | None = None):
            """A user linked to the app and proven (by a staff attestation, the documented equivalent of the
            person's own code): the app may act on them."""
            from identity.services.apps import app_user_attest

            app_user = self.claim(external_user_id, phone)
            return app_user_attest(app_user=app_user, actor=None, reason="checked by a test").user

        def account(self, balance: int = 0, user=None):
            """A proven user's account holding ``balance`` cents of this tenant's funds (a credit of its own)."""
            from billing.services.accounts import account_open
            from billing.services.ledger import ledger_post

            account, _ = account_open(user=user or self.user())
            if balance:
                ledger_post(account_id=account.pk, type="credit", amount=balance, description="opening balance",
                            tenant_id=self.owner.pk)
                account.refresh_from_db()
            return account

    return Tenant


@pytest.fixture
def localstripe_webhook(localstripe_url):
    """Point localstripe's webhook at a URL (signed with the test secret), or at nothing."""
    import requests

    from tests.billing.helpers import WEBHOOK_SECRET

    def configure(url: str | None = None, events: list[str] | None = None) -> None:
        data = {"url": url or "http://127.0.0.1:9/nowhere", "secret": WEBHOOK_SECRET,
                "events": events if url else ["never.sent"]}
        response = requests.post(f"{localstripe_url}/_config/webhooks/billing-tests", json=data, timeout=10)
        response.raise_for_status()

    configure()
    yield configure
    configure()
