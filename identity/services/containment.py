"""Staff actions on applications, and the containment of a tenant whose owner staff suspend or ban.

A tenant is its owner's applications (``tenant_id = applications.owner_id``). When staff suspend or ban the owner
(``identity.services.sessions.user_set_status``), ``tenant_contain`` suspends every application of the tenant and
every active credential of those applications in the same transaction, each under a staff lock whose cause is
``owner_inactive``: the next request made with any of the tenant's keys answers 401 and no money moves, and the
tenant's agents are rejected at the pipeline's "agent and its app active" stage.

Lifting the owner's suspension or ban (``tenant_release``) lifts exactly those locks and brings back what they
alone held: applications suspended by the cascade become active again, credentials suspended by the cascade become
active again. An application staff suspended for their own reasons keeps its own lock and stays suspended; a
credential revoked meanwhile stays revoked (a revocation is final); a deleted application stays deleted.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from audit.services import audit_record
from core.errors import Conflict
from identity import events
from identity.models import AppCredential, Application, User
from identity.services.apps import app_set_status
from infrastructure.models import StaffLock
from infrastructure.selectors import staff_lock_in_force
from infrastructure.services.staff_locks import staff_lock_lift, staff_lock_set, staff_locks_lift_for_tenant

OWNER_INACTIVE = StaffLock.Cause.OWNER_INACTIVE


@dataclass
class Containment:
    """What a containment or a release changed: the ids of the applications and credentials."""

    apps: list[Any] = field(default_factory=list)
    credentials: list[Any] = field(default_factory=list)


# --- staff actions on one application ----------------------------------------------------------------------------


@transaction.atomic
def app_staff_suspend(*, app: Application, reason: str, actor: Any = None) -> Application:
    """Staff suspend an application: its credentials stop working at once, and the suspension is a staff lock that
    only staff lift (``app_staff_reactivate``); the owner's reactivation after a ban does not lift it."""
    app = Application.objects.select_for_update().get(pk=app.pk)
    if app.status == Application.Status.DELETED:
        raise Conflict(_("A deleted application stays deleted."), code="app_deleted")
    staff_lock_set(target=app, tenant_id=app.owner_id, value={"status": Application.Status.SUSPENDED},
                   reason=reason, actor=actor)
    return app_set_status(app=app, status=Application.Status.SUSPENDED, reason=reason)


@transaction.atomic
def app_staff_reactivate(*, app: Application, reason: str, actor: Any = None) -> Application:
    """Staff reactivate an application: lift their lock and make it active, unless its owner is still suspended
    or banned (409 ``owner_inactive``: reactivate the owner, which brings the app back)."""
    app = Application.objects.select_for_update().get(pk=app.pk)
    if app.status == Application.Status.DELETED:
        raise Conflict(_("A deleted application stays deleted."), code="app_deleted")
    staff_lock_lift(target=app, reason=reason, actor=actor)
    if staff_lock_in_force(app) is not None:
        raise Conflict(_("The application's owner is suspended or banned: reactivate the owner, and the "
                         "application comes back with them."), code="owner_inactive")
    return app_set_status(app=app, status=Application.Status.ACTIVE, reason=reason)


# --- the tenant of a suspended or banned owner ---------------------------------------------------------------------


def _credential_set_status(credential: AppCredential, *, status: str, reason: str, event: str, action: str) -> None:
    before = credential.status
    credential.status = status
    credential.save(update_fields=["status"])
    audit_record(event, action=action, target_type="app_credential", target_id=credential.pk,
                 app_id=credential.app_id, before={"status": before}, after={"status": status}, reason=reason,
                 metadata={"public_key": credential.public_key})


@transaction.atomic
def tenant_contain(*, owner: User, reason: str, actor: Any = None) -> Containment:
    """Suspend every application (not deleted) of ``owner``'s tenant and every active credential of them, each under
    a lock of cause ``owner_inactive``. Idempotent: run again (a suspension becoming a ban), it refreshes the locks'
    reason and catches anything left active. The caller holds the owner's row lock."""
    why = _("owner %(status)s: %(reason)s") % {"status": owner.status, "reason": reason}
    done = Containment()
    apps = list(Application.objects.select_for_update().filter(owner_id=owner.pk)
                .exclude(status=Application.Status.DELETED).order_by("pk"))
    for app in apps:
        staff_lock_set(target=app, tenant_id=owner.pk, cause=OWNER_INACTIVE,
                       value={"status": Application.Status.SUSPENDED}, reason=why, actor=actor)
        if app.status == Application.Status.ACTIVE:
            app_set_status(app=app, status=Application.Status.SUSPENDED, reason=why)
            done.apps.append(app.pk)
    credentials = AppCredential.objects.select_for_update().filter(
        app__in=apps, status__in=[AppCredential.Status.ACTIVE, AppCredential.Status.SUSPENDED]).order_by("pk")
    for credential in credentials:
        staff_lock_set(target=credential, tenant_id=owner.pk, cause=OWNER_INACTIVE,
                       value={"status": AppCredential.Status.SUSPENDED}, reason=why, actor=actor)
        if credential.status == AppCredential.Status.ACTIVE:
            _credential_set_status(credential, status=AppCredential.Status.SUSPENDED, reason=why,
                                   event=events.APP_CREDENTIAL_SUSPENDED, action="suspend")
            done.credentials.append(credential.pk)
    return done


@transaction.atomic
def tenant_release(*, owner: User, reason: str, actor: Any = None) -> Containment:
    """Lift the ``owner_inactive`` locks of ``owner``'s tenant and bring back what they alone held (module
    docstring). The caller holds the owner's row lock."""
    done = Containment()
    lifted = staff_locks_lift_for_tenant(tenant_id=owner.pk, cause=OWNER_INACTIVE, reason=reason, actor=actor)
    app_ids = [lock.target_id for lock in lifted if lock.target_type == Application._meta.label_lower]
    credential_ids = [lock.target_id for lock in lifted if lock.target_type == AppCredential._meta.label_lower]
    for app in Application.objects.select_for_update().filter(pk__in=app_ids).order_by("pk"):
        # Another lock (staff's own) keeps it suspended; a deleted app stays deleted.
        if app.status == Application.Status.SUSPENDED and staff_lock_in_force(app) is None:
            app_set_status(app=app, status=Application.Status.ACTIVE, reason=reason)
            done.apps.append(app.pk)
    for credential in AppCredential.objects.select_for_update().filter(pk__in=credential_ids).order_by("pk"):
        # A credential revoked while the owner was out stays revoked.
        if credential.status == AppCredential.Status.SUSPENDED and staff_lock_in_force(credential) is None:
            _credential_set_status(credential, status=AppCredential.Status.ACTIVE, reason=reason,
                                   event=events.APP_CREDENTIAL_RESTORED, action="restore")
            done.credentials.append(credential.pk)
    return done
