"""Demo data: idempotent, and the demo admin gets its authority whether it exists before or after the seed."""
import io

import pytest
from django.core.management import call_command

from governance.demo import DEMO_ACTOR, MARKER, POLICIES
from governance.models import ApprovalRequest, DecisionAuthority, Policy, PolicyEvaluation
from identity.models import User
from memory.demo import MEMORY_REVIEWER

pytestmark = [pytest.mark.smoke, pytest.mark.django_db(transaction=True)]


def test_seed_twice_changes_nothing_and_grants_the_admin_when_it_appears(settings):
    settings.DEBUG = True
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    # The governance demo's own evaluations and requests: the agents demo above adds decisions of its own.
    evaluations = PolicyEvaluation.objects.filter(actor_id=DEMO_ACTOR)
    requests = ApprovalRequest.objects.exclude(callback="agents")
    counts = (Policy.objects.count(), evaluations.count(), requests.count())
    assert counts == (len(POLICIES), 8, 1)
    assert Policy.objects.get(name=MARKER).active
    assert not DecisionAuthority.objects.exclude(user__username=MEMORY_REVIEWER).exists()
    call_command("seed_demo", stdout=io.StringIO())
    assert (Policy.objects.count(), evaluations.count(), requests.count()) == counts
    assert all(p.version == 1 for p in Policy.objects.all())

    admin = User.objects.create_superuser("admin")
    authority = DecisionAuthority.objects.get(user=admin)
    assert authority.scopes == ["*"] and authority.max_impact == "critical" and authority.granted_by is None
    call_command("seed_demo", stdout=io.StringIO())
    assert DecisionAuthority.objects.filter(user=admin).count() == 1


def test_seed_grants_an_admin_that_already_exists(settings):
    settings.DEBUG = True
    admin = User.objects.create_superuser("admin")
    assert not DecisionAuthority.objects.exists()  # no demo data yet: nothing granted on creation
    call_command("seed_demo", stdout=io.StringIO())
    assert DecisionAuthority.objects.filter(user=admin).count() == 1
