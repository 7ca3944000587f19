"""The console: a read-only audit browser and a verification page."""
import uuid

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from audit.models import AuditEvent
from audit.services import audit_record
from identity.models import User

from .conftest import tamper

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]

CHANGELIST = "admin:audit_auditevent_changelist"


@pytest.fixture
def superuser(client):
    user = User.objects.create_superuser("root", "a-long-password-1")
    client.force_login(user)
    return user


@pytest.fixture
def events(audit_log):
    app, actor, target = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    audit_record("AUDIT_VERIFIED", action="approve", target_type="payout", target_id=target, actor_id=actor,
                 actor_type="admin", app_id=app, before={"status": "pending", "amount": 900},
                 after={"status": "approved", "amount": 900}, metadata={"ticket": "T-1"})
    audit_record("AUDIT_CHECKPOINT_SIGNED", action="sign", target_type="audit_chain")
    audit_log.events()
    return {"app": app, "actor": actor, "target": target}


def _sequences(response) -> list[int]:
    return [e.sequence for e in response.context["cl"].result_list]


def test_the_list_filters_by_type_actor_target_app_and_date(client, superuser, events):
    url = reverse(CHANGELIST)
    assert _sequences(client.get(url)) == [2, 1]
    assert _sequences(client.get(url, {"type": "AUDIT_CHECKPOINT_SIGNED"})) == [2]
    assert _sequences(client.get(url, {"actor": str(events["actor"])})) == [1]
    assert _sequences(client.get(url, {"target": str(events["target"])})) == [1]
    assert _sequences(client.get(url, {"app": str(events["app"])})) == [1]
    assert _sequences(client.get(url, {"actor_type": "admin"})) == [1]
    assert _sequences(client.get(url, {"target_type": "audit_chain"})) == [2]
    event = AuditEvent.objects.get(sequence=1)
    day = event.created_at
    assert _sequences(client.get(url, {"created_at__year": day.year, "created_at__month": day.month,
                                       "created_at__day": day.day})) == [2, 1]
    assert _sequences(client.get(url, {"q": str(events["target"])})) == [1]
    assert _sequences(client.get(url, {"q": "sign"})) == [2]


def test_the_list_links_to_the_filters_and_to_verification(client, superuser, events):
    content = client.get(reverse(CHANGELIST)).content.decode()
    assert f"?actor={events['actor']}" in content
    assert f"?target={events['target']}" in content
    assert reverse("admin:audit_auditevent_verify") in content


def test_a_malformed_id_filter_is_a_clean_error(client, superuser, events):
    response = client.get(reverse(CHANGELIST), {"actor": "not-a-uuid"})
    assert response.status_code == 302 and "e=1" in response["Location"]


def test_an_event_shows_before_and_after_side_by_side(client, superuser, events):
    event = AuditEvent.objects.get(sequence=1)
    response = client.get(reverse("admin:audit_auditevent_change", args=[event.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    table = html[html.index('class="audit-before-after"'):]
    table = table[:table.index("</table>")]
    status_row = table[table.index("<th style=\"vertical-align:top\">status</th>"):]
    status_row = status_row[:status_row.index("</tr>")]
    assert "&quot;pending&quot;" in status_row and "&quot;approved&quot;" in status_row and "changed" in status_row
    amount_row = table[table.index(">amount</th>"):]
    assert "changed" not in amount_row[:amount_row.index("</tr>")]
    assert "T-1" in html  # metadata
    assert 'name="_save"' not in html  # view only


def test_nobody_can_add_change_or_delete_events(client, superuser, events):
    event = AuditEvent.objects.get(sequence=1)
    assert client.get(reverse("admin:audit_auditevent_add")).status_code == 403
    assert client.post(reverse("admin:audit_auditevent_change", args=[event.pk]), {"reason": "x"}).status_code == 403
    assert client.post(reverse("admin:audit_auditevent_delete", args=[event.pk]), {"post": "yes"}).status_code == 403
    assert 'name="action"' not in client.get(reverse(CHANGELIST)).content.decode()
    assert AuditEvent.objects.get(sequence=1).reason == ""


def test_the_verification_page_reports_an_intact_chain_and_records_who_ran_it(client, superuser, events, audit_log):
    url = reverse("admin:audit_auditevent_verify")
    page = client.get(url)
    assert page.status_code == 200 and "Run verification" in page.content.decode()
    html = client.post(url).content.decode()
    assert "Chain intact: 2 events verified up to sequence 2." in html
    event = audit_log.assert_recorded("AUDIT_VERIFIED", action="verify")
    assert (event.actor_id, event.actor_type, event.after["ok"]) == (superuser.id, "admin", True)


def test_the_verification_page_names_the_broken_sequence_and_links_to_it(client, superuser, events, audit_log):
    tamper("UPDATE audit_events SET reason = 'edited' WHERE sequence = 1")
    html = client.post(reverse("admin:audit_auditevent_verify")).content.decode()
    assert "Chain broken at sequence 1: content altered." in html
    assert reverse("admin:audit_auditevent_change", args=[AuditEvent.objects.get(sequence=1).pk]) in html
    assert audit_log.last("AUDIT_VERIFIED").metadata["problem"]["sequence"] == 1


def test_staff_without_the_view_permission_cannot_verify(client, events):
    staff = User.objects.create_user("clerk", "a-long-password-1", role=User.Role.ADMIN)
    staff.groups.clear()  # staff without any console role (the admin group may read the audit log)
    client.force_login(staff)
    assert client.get(reverse("admin:audit_auditevent_verify")).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    staff = User.objects.get(pk=staff.pk)
    client.force_login(staff)
    assert client.get(reverse("admin:audit_auditevent_verify")).status_code == 200
    assert client.get(reverse(CHANGELIST)).status_code == 200


def test_the_console_needs_a_login(client, events):
    response = client.get(reverse("admin:audit_auditevent_verify"))
    assert response.status_code == 302 and "login" in response["Location"]
