"""The dashboard (the console's index): what it shows, and a number of queries that does not grow with the data."""
from __future__ import annotations

import copy
import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

pytestmark = pytest.mark.django_db


def _clone(rows, n: int, **changes):
    """``n`` copies of each row with new primary keys (and ``changes`` applied; callables get the index)."""
    made = []
    for row in rows:
        for i in range(n):
            twin = copy.copy(row)
            twin.pk = uuid.uuid4()
            twin._state.adding = True
            for field, value in changes.items():
                setattr(twin, field, value(i) if callable(value) else value)
            made.append(twin)
    return made


def grow(factor: int) -> None:
    """Many more rows in every table the dashboard reads."""
    from ads.models import AdSpendEvent
    from agents.models import AgentDecision, AgentMemory
    from audit.services import audit_record, audit_sequence
    from governance.models import ApprovalRequest
    from infrastructure.models import DeadLetterJob, Job

    now = timezone.now()
    AgentDecision.objects.bulk_create(_clone(AgentDecision.objects.exclude(outcome="")[:5], factor,
                                             approval_request=None, shadow_execution=None,
                                             created_at=lambda i: now - timedelta(hours=7 * i)))
    AdSpendEvent.objects.bulk_create(_clone(AdSpendEvent.objects.all()[:3], factor, ledger_entry=None,
                                            status="failed", failure_reason="budget_exhausted",
                                            idempotency_key=lambda i: f"grow-{uuid.uuid4()}",
                                            created_at=lambda i: now - timedelta(hours=5 * i)))
    AgentMemory.objects.bulk_create(_clone(AgentMemory.objects.all()[:3], factor))
    ApprovalRequest.objects.bulk_create([
        ApprovalRequest(domain="billing", action="credit", impact="low", required_impact="low", amount=100 + i,
                        expires_at=now + timedelta(hours=1 + i), reference=f"grow-{uuid.uuid4()}")
        for i in range(factor)])
    ApprovalRequest.objects.bulk_create([
        ApprovalRequest(domain="billing", action="credit", impact="low", required_impact="low", amount=100,
                        status="approved", created_at=now - timedelta(hours=3 * i + 2),
                        decided_at=now - timedelta(hours=3 * i), expires_at=now, reference=f"grow-{uuid.uuid4()}")
        for i in range(factor)])
    jobs = Job.objects.bulk_create([Job(type="grow") for _ in range(factor)])
    DeadLetterJob.objects.bulk_create([DeadLetterJob(original_job=j, type="grow", attempts=3) for j in jobs])
    for i in range(factor * 5):
        audit_record("APP_USER_LINKED", action="link", target_type="grow", metadata={"i": i})
    audit_sequence()


@pytest.fixture
def viewer(db):
    from governance.models import DecisionAuthority
    from identity.models import User

    user = User.objects.create_user("dash-viewer", role=User.Role.SUPER_ADMIN)
    DecisionAuthority.objects.create(user=user, role="super_admin", scopes=["*"], max_impact="critical")
    return user


def _queries(client) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    return len(ctx), response.content.decode()


def test_the_dashboard_makes_the_same_number_of_queries_for_small_and_large_data(client, viewer):
    from infrastructure.services.killswitches import killswitch_activate

    call_command("seed_demo")
    killswitch_activate("ads", reason="checking the dashboard", actor=viewer)
    client.force_login(viewer)
    _queries(client)  # warm the per-process caches (content types, permissions) before counting
    small, page = _queries(client)
    assert "checking the dashboard" in page
    grow(40)
    large, page = _queries(client)
    grow(120)
    larger, _ = _queries(client)
    print(f"dashboard queries: {small} (demo data), {large} (+40x), {larger} (+160x)")
    assert small == large == larger
    assert page.count("<svg") >= 3 and "console-chart" in page


def test_the_dashboard_shows_what_waits_for_the_viewer(client, viewer):
    from governance.models import ApprovalRequest
    from identity.models import User
    from infrastructure.services.killswitches import killswitch_activate

    now = timezone.now()
    mine = ApprovalRequest.objects.create(domain="billing", action="refund", impact="low", required_impact="low",
                                          amount=5000, expires_at=now + timedelta(hours=2))
    other = User.objects.create_user("requester")
    ApprovalRequest.objects.create(domain="billing", action="own", impact="low", required_impact="low",
                                   requested_by=viewer.pk, expires_at=now + timedelta(hours=2))
    killswitch_activate("billing", reason="fraud wave on refunds", actor=viewer)
    client.force_login(viewer)
    page = client.get(reverse("admin:index")).content.decode()
    assert reverse("admin:governance_approvalrequest_change", args=[mine.pk]) in page
    assert "refund" in page and "fraud wave on refunds" in page and "dash-viewer" in page
    assert ">1<" in page.split('id="dash-approvals"')[1].split("</section>")[0]  # its own request is not counted
    assert reverse("admin:inbox") in page
    assert other.pk  # a second person exists, the count is the viewer's own


def test_the_chain_status_shows_the_last_verification_and_checkpoint(client, viewer, tmp_path, settings):
    import base64
    import secrets

    from audit.services import audit_sequence, chain_verify_recorded, checkpoint_sign

    settings.AUDIT_CHECKPOINT_KEY = base64.b64encode(secrets.token_bytes(32)).decode()
    settings.AUDIT_CHECKPOINT_DIR = tmp_path
    client.force_login(viewer)
    chain = client.get(reverse("admin:index")).content.decode().split('id="dash-chain"')[1].split("</section>")[0]
    assert chain.count("never") == 2
    audit_sequence()
    checkpoint_sign(directory=tmp_path)
    chain_verify_recorded(checkpoints_dir=tmp_path)
    audit_sequence()
    chain = client.get(reverse("admin:index")).content.decode().split('id="dash-chain"')[1].split("</section>")[0]
    assert "never" not in chain and "intact" in chain


def test_charts_are_inline_svg_without_any_external_reference(client, viewer):
    call_command("seed_demo")
    client.force_login(viewer)
    page = client.get(reverse("admin:index")).content.decode()
    charts = page.split('id="dash-charts"')[1].split("</section>")[0]
    assert charts.count("<svg") == 3
    assert "http://" not in charts.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in charts and "<script" not in page.split('id="dashboard"')[1]
