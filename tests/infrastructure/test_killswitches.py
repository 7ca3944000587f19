"""Kill switches: audited services with history, expiry, and a cached check other processes see within 1 s."""
from __future__ import annotations

import statistics
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from core.errors import Conflict, InvalidInput
from identity.models import User
from infrastructure import events
from infrastructure.models import KillSwitch
from infrastructure.services.killswitches import (
    KillSwitchActive,
    killswitch_activate,
    killswitch_deactivate,
    killswitch_ensure_running,
    killswitch_expire_due,
    killswitch_halted_scopes,
    killswitch_is_halted,
    killswitches_in_force,
)
from tests.infrastructure.conftest import audited, child_env


@pytest.fixture
def admin_user(db):
    return User.objects.create_superuser("ops-admin")


@pytest.mark.smoke
@pytest.mark.django_db
class TestServices:
    def test_the_migration_creates_one_inactive_row_per_scope(self):
        assert sorted(KillSwitch.objects.values_list("scope", flat=True)) == sorted(KillSwitch.Scope.values)
        assert not KillSwitch.objects.filter(active=True).exists()

    @pytest.mark.parametrize("reason", ["", "  ", "no"])
    def test_activation_needs_a_reason(self, reason, admin_user):
        with pytest.raises(InvalidInput) as err:
            killswitch_activate("billing", reason=reason, actor=admin_user)
        assert "reason" in err.value.fields
        assert not killswitch_is_halted("billing")

    def test_an_unknown_scope_and_a_past_expiry_are_refused(self, admin_user):
        with pytest.raises(InvalidInput):
            killswitch_activate("payroll", reason="no such scope", actor=admin_user)
        with pytest.raises(InvalidInput):
            killswitch_activate("ads", reason="already over", actor=admin_user,
                                expires_at=timezone.now() - timedelta(seconds=1))

    def test_activation_halts_its_scope_only_and_records_who_and_why(self, admin_user):
        switch = killswitch_activate("billing", reason="chargeback storm", actor=admin_user)
        assert killswitch_is_halted("billing")
        assert not killswitch_is_halted("ads")
        assert (switch.activated_by, switch.reason) == (admin_user.pk, "chargeback storm")
        with pytest.raises(KillSwitchActive) as err:
            killswitch_ensure_running("billing")
        assert (err.value.status, err.value.code, err.value.extra["scope"]) == (423, "kill_switch_active", "billing")
        killswitch_ensure_running("ads", "agents")

    def test_the_all_switch_halts_every_scope(self, admin_user):
        killswitch_activate("all", reason="full stop", actor=admin_user)
        for scope in KillSwitch.Scope.values:
            assert killswitch_is_halted(scope)
        with pytest.raises(KillSwitchActive) as err:
            killswitch_ensure_running("ads")
        assert err.value.extra["scope"] == "all"

    def test_deactivation_needs_a_reason_and_an_active_switch(self, admin_user):
        with pytest.raises(Conflict):
            killswitch_deactivate("agents", reason="nothing to lift", actor=admin_user)
        killswitch_activate("agents", reason="rogue agent", actor=admin_user)
        with pytest.raises(InvalidInput):
            killswitch_deactivate("agents", reason="", actor=admin_user)
        assert killswitch_is_halted("agents")
        killswitch_deactivate("agents", reason="agent fixed", actor=admin_user)
        assert not killswitch_is_halted("agents")

    def test_changes_are_audited_with_before_after_and_reason(self, admin_user):
        killswitch_activate("ads", reason="budget bug", actor=admin_user)
        killswitch_deactivate("ads", reason="bug fixed", actor=admin_user)
        [on] = audited(events.KILL_SWITCH_ACTIVATED)
        [off] = audited(events.KILL_SWITCH_DEACTIVATED)
        assert (on.before["active"], on.after["active"], on.reason) == (False, True, "budget bug")
        assert (off.before["active"], off.after["active"], off.reason) == (True, False, "bug fixed")
        assert str(on.actor_id) == str(admin_user.pk) and on.actor_type == "admin"

    def test_changes_keep_history_with_reason_and_user(self, admin_user):
        killswitch_activate("ads", reason="budget bug", actor=admin_user)
        killswitch_deactivate("ads", reason="bug fixed", actor=admin_user)
        history = list(KillSwitch.objects.get(scope="ads").history.order_by("history_date"))
        assert [(h.active, h.history_change_reason, h.history_user_id) for h in history] == [
            (True, "budget bug", admin_user.pk), (False, "bug fixed", admin_user.pk)]

    def test_an_expired_switch_stops_applying_by_itself(self, admin_user):
        killswitch_activate("billing", reason="maintenance window", actor=admin_user,
                            expires_at=timezone.now() + timedelta(seconds=0.3))
        assert killswitch_is_halted("billing")
        time.sleep(0.35)
        assert not killswitch_is_halted("billing")  # nobody touched it; the cached copy is not even refreshed
        assert killswitches_in_force() == []
        assert KillSwitch.objects.get(scope="billing").active  # the row still says so ...
        assert killswitch_expire_due() == 1  # ... until the periodic task switches it off, audited
        assert not KillSwitch.objects.get(scope="billing").active
        [event] = audited(events.KILL_SWITCH_EXPIRED)
        assert event.before["active"] and not event.after["active"]

    def test_expiry_is_exact_for_any_moment(self, admin_user):
        until = timezone.now() + timedelta(hours=1)
        killswitch_activate("agents", reason="overnight freeze", actor=admin_user, expires_at=until)
        assert killswitch_is_halted("agents", now=until - timedelta(seconds=1))
        assert not killswitch_is_halted("agents", now=until)
        assert [s.scope for s in killswitch_halted_scopes("agents", now=until - timedelta(seconds=1))] == ["agents"]

    def test_the_check_is_cached(self, django_assert_num_queries):
        killswitch_is_halted("billing")
        with django_assert_num_queries(0):
            for _ in range(1000):
                killswitch_is_halted("billing")


def watch(scope: str, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "tests.infrastructure.killswitch_watch", scope, str(seconds)],
                            cwd=settings.BASE_DIR, env=child_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    first = proc.stdout.readline()
    assert first.startswith("ready running"), first + proc.stdout.read()
    return proc


def seen_at(proc: subprocess.Popen, state: str, timeout: float = 10) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith(state + " "):
            return float(line.split()[1])
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"the other process never saw {state!r}")


@pytest.mark.django_db(transaction=True)
def test_an_activation_is_seen_by_another_process_within_one_second():
    """Two real processes on the same database: the delay is measured, not assumed."""
    proc = watch("billing", 20)
    delays = []
    try:
        for round_ in range(3):
            time.sleep(0.1 + round_ * 0.17)  # land at different points of the other process's refresh cycle
            committed = time.time()
            killswitch_activate("billing", reason=f"drill {round_}", actor=None)
            delays.append(seen_at(proc, "halted") - committed)
            committed = time.time()
            killswitch_deactivate("billing", reason=f"drill {round_} over", actor=None)
            delays.append(seen_at(proc, "running") - committed)
    finally:
        proc.kill()
        proc.communicate()
    assert max(delays) < 1.0, delays
    assert statistics.median(delays) <= settings.KILLSWITCH_CACHE_SECONDS + 0.25, delays
