"""Institutional memory's demo data: lifecycles, a conflict, precedents and a due review, added once."""
import io

import pytest
from django.core.management import call_command

from identity.models import User
from memory.demo import MEMORY_REVIEWER
from memory.models import DecisionConflict, DecisionLifecycle, DecisionPrecedent, DecisionReview
from memory.selectors import reviews_due_for, similar_precedents
from memory.services import verify_lifecycle_chains

pytestmark = [pytest.mark.smoke, pytest.mark.django_db(transaction=True)]


def test_seed_shows_lifecycles_a_conflict_precedents_and_a_due_review_once(settings):
    settings.DEBUG = True
    call_command("seed_demo", stdout=io.StringIO())
    counts = (DecisionLifecycle.objects.count(), DecisionConflict.objects.count(), DecisionPrecedent.objects.count(),
              DecisionReview.objects.count())
    assert DecisionLifecycle.objects.filter(decision_type="approval").count() >= 5
    assert DecisionLifecycle.objects.filter(decision_type="authority_grant").exists()
    assert DecisionConflict.objects.unresolved().filter(conflict_type="direction").count() == 1
    assert [p.precedent.amount for p in similar_precedents(domain="billing", action="credit", amount=5_000)] == [
        5_000, 40_000]
    reviewer = User.objects.get(username=MEMORY_REVIEWER)
    assert [r.review_type for r in reviews_due_for(user=reviewer)] == ["periodic"]
    call_command("seed_demo", stdout=io.StringIO())
    assert (DecisionLifecycle.objects.count(), DecisionConflict.objects.count(), DecisionPrecedent.objects.count(),
            DecisionReview.objects.count()) == counts
    assert verify_lifecycle_chains().ok
