"""``ledger_verify`` run as a process: its exit status is what operators and cron jobs see."""
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection

from billing.models import BillingAccount
from billing.services.ledger import ledger_post

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_the_command_exits_0_then_1_as_a_process(make_account):
    accounts = [make_account(balance=500 + i) for i in range(2)]
    for account in accounts:
        ledger_post(account_id=account.pk, type="debit", amount=100)
    params = connection.settings_dict
    url = f"postgres://{params['USER']}@{params['HOST'] or '127.0.0.1'}:{params['PORT'] or 5432}/{params['NAME']}"
    env = {**os.environ, "DEBUG": "true", "DATABASE_URL": url}

    def run():
        return subprocess.run([sys.executable, "manage.py", "ledger_verify"], cwd=settings.BASE_DIR, env=env,
                              capture_output=True, text=True, timeout=120)

    ok = run()
    assert ok.returncode == 0, ok.stderr
    BillingAccount.objects.filter(pk=accounts[0].pk).update(balance=3)
    bad = run()
    assert bad.returncode == 1
    assert str(accounts[0].pk) in bad.stdout + bad.stderr
