"""Staff locks: what staff set in the console outranks what a tenant can do through the API.

A service that carries out a staff action (suspend an agent, pause a campaign, set a budget's total, suspend an
app or a user) calls ``staff_lock_set`` in its transaction, after locking the object's row; the staff action that
undoes it (reactivate, resume) calls ``staff_lock_lift``. On the tenant's path the same services call
``staff_lock_ensure_unlocked`` (or read ``staff_lock_in_force`` for a limit) after locking the row, so that a lock
staff committed meanwhile is seen: a lock in force raises ``StaffLocked`` (409 ``status_locked_by_staff``), the
operation rolls back and writes nothing, and the interface that answers the refusal records it with
``StaffLocked.record_refusal`` (the API's exception handler; the agents' executor for an agent's decision).

Which calls are the tenant's is the services' existing convention: a call scoped to a tenant (``tenant_id`` given:
the API, an agent's executor) acts for the tenant; a console call passes the staff member as ``actor``.
docs/domains/staff-locks.md lists every lock and who lifts it.
"""
from __future__ import annotations

import uuid
from typing import Any

from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit import context as audit_context
from audit.services import audit_record
from core.errors import Conflict
from core.validation import clean_reason
from infrastructure import events
from infrastructure.models import StaffLock
from infrastructure.selectors import staff_lock_in_force

STATUS_LOCKED_BY_STAFF = "status_locked_by_staff"


class StaffLocked(Conflict):
    """A tenant tried to change what a staff lock holds. The answer names the lock's field, cause, value and time;
    staff's reason stays in the console (it may say more than the tenant should read)."""

    code = STATUS_LOCKED_BY_STAFF
    records_refusal = True

    def __init__(self, lock: StaffLock, *, attempted: dict[str, Any]) -> None:
        if lock.cause == StaffLock.Cause.OWNER_INACTIVE:
            message = _("This is suspended because the tenant's owner is suspended or banned; it comes back when "
                        "staff reactivate the owner.")
        else:
            message = _("Staff set this in the console (%(field)s); it cannot be changed through the API until "
                        "staff lift the lock.") % {"field": lock.field}
        super().__init__(message, extra={"lock": {"field": lock.field, "cause": lock.cause, "value": lock.value,
                                                  "locked_at": lock.locked_at.isoformat()}})
        self.lock = lock
        self.attempted = attempted

    def record_refusal(self) -> None:
        """The refusal's audit event: written by whoever answers the refusal, after the operation rolled back."""
        lock = self.lock
        audit_record(events.STAFF_LOCK_REFUSED, action="refuse", target_type="staff_lock", target_id=lock.pk,
                     after={"attempted": self.attempted}, metadata=_lock_metadata(lock))


def _lock_metadata(lock: StaffLock) -> dict[str, Any]:
    return {"target_type": lock.target_type, "target_id": str(lock.target_id), "field": lock.field,
            "cause": lock.cause, "tenant_id": str(lock.tenant_id) if lock.tenant_id else None}


def _actor_id(actor: Any) -> uuid.UUID | None:
    pk = getattr(actor, "pk", None) if actor is not None and hasattr(actor, "_meta") else None
    return pk if pk is not None else audit_context.current().actor_id


def _audit_actor(actor: Any) -> dict[str, Any]:
    pk = getattr(actor, "pk", None) if actor is not None and hasattr(actor, "_meta") else None
    if pk is None:
        return {}
    return {"actor_id": pk, **({"actor_type": "admin"} if getattr(actor, "is_staff", False) else {})}


def is_staff_actor(actor: Any) -> bool:
    """A console user acting as staff (the services' ``actor`` argument)."""
    return actor is not None and hasattr(actor, "_meta") and bool(getattr(actor, "is_staff", False))


@transaction.atomic
def staff_lock_set(*, target: models.Model, reason: str, tenant_id: Any, field: str = "status",
                   cause: str = StaffLock.Cause.STAFF, value: dict[str, Any] | None = None,
                   actor: Any = None) -> StaffLock:
    """Lock ``target``'s ``field`` against the tenant's API. Setting it again (same field and cause) updates the
    lock in force (its value and reason) instead of adding one. The caller holds the target's row lock."""
    reason = clean_reason(reason)
    existing = (StaffLock.objects.select_for_update().in_force().on(target, field).filter(cause=cause).first())
    value = value or {}
    if existing is not None:
        if existing.value == value and existing.reason == reason:
            return existing
        before = {"value": existing.value, "reason": existing.reason}
        existing.value, existing.reason = value, reason
        existing.save(update_fields=["value", "reason"])
        audit_record(events.STAFF_LOCK_SET, action="update", target_type="staff_lock", target_id=existing.pk,
                     before=before, after={"value": value}, reason=reason, metadata=_lock_metadata(existing),
                     **_audit_actor(actor))
        return existing
    try:
        with transaction.atomic():
            lock = StaffLock.objects.create(target_type=target._meta.label_lower, target_id=target.pk, field=field,
                                            tenant_id=tenant_id, cause=cause, value=value, reason=reason,
                                            locked_by=_actor_id(actor), locked_at=timezone.now())
    except IntegrityError:
        # Another staff action on the same object won the race for the one lock in force: update that one.
        return staff_lock_set(target=target, reason=reason, tenant_id=tenant_id, field=field, cause=cause,
                              value=value, actor=actor)
    audit_record(events.STAFF_LOCK_SET, action="lock", target_type="staff_lock", target_id=lock.pk,
                 after={"value": value}, reason=reason, metadata=_lock_metadata(lock), **_audit_actor(actor))
    return lock


def _lift(lock: StaffLock, *, reason: str, actor: Any) -> StaffLock:
    lock.released_at, lock.released_by, lock.release_reason = timezone.now(), _actor_id(actor), reason
    lock.save(update_fields=["released_at", "released_by", "release_reason"])
    audit_record(events.STAFF_LOCK_LIFTED, action="lift", target_type="staff_lock", target_id=lock.pk,
                 before={"value": lock.value, "reason": lock.reason}, reason=reason, metadata=_lock_metadata(lock),
                 **_audit_actor(actor))
    return lock


@transaction.atomic
def staff_lock_lift(*, target: models.Model, reason: str, field: str = "status",
                    cause: str = StaffLock.Cause.STAFF, actor: Any = None) -> StaffLock | None:
    """Lift the lock in force on ``target``'s ``field`` for ``cause``; None when there is none. The object itself is
    not changed here: the staff action that lifts it (reactivate, resume) changes it in the same transaction."""
    reason = clean_reason(reason)
    lock = StaffLock.objects.select_for_update().in_force().on(target, field).filter(cause=cause).first()
    return None if lock is None else _lift(lock, reason=reason, actor=actor)


@transaction.atomic
def staff_lock_lift_by_id(*, lock_id: Any, reason: str, actor: Any = None) -> StaffLock:
    """The console's "lift": hand the control back to the tenant without changing the object (a suspended agent
    stays suspended, and its tenant may now reactivate it). Only staff's own locks: a cascade's lock is lifted with
    the cascade (reactivating the owner)."""
    reason = clean_reason(reason)
    lock = StaffLock.objects.select_for_update().filter(pk=lock_id).first()
    if lock is None or not lock.in_force:
        raise Conflict(_("This lock is not in force."), code="staff_lock_not_in_force")
    if lock.cause != StaffLock.Cause.STAFF:
        raise Conflict(_("This lock comes from the owner's suspension or ban: reactivate the owner to lift it."),
                       code="staff_lock_cascade")
    return _lift(lock, reason=reason, actor=actor)


@transaction.atomic
def staff_locks_lift_for_tenant(*, tenant_id: Any, cause: str, reason: str, actor: Any = None) -> list[StaffLock]:
    """Lift every lock in force that ``cause`` set on ``tenant_id``'s objects (the end of a cascade)."""
    reason = clean_reason(reason)
    locks = list(StaffLock.objects.select_for_update().in_force().filter(tenant_id=tenant_id, cause=cause)
                 .order_by("locked_at", "pk"))
    return [_lift(lock, reason=reason, actor=actor) for lock in locks]


@transaction.atomic
def staff_locks_carry(*, source: models.Model, target: models.Model, reason: str) -> list[StaffLock]:
    """Move the locks in force on ``source`` to ``target`` (an object that replaces it, like a budget's next
    period): the new ones keep the value, reason, cause and who set them."""
    carried = []
    for lock in StaffLock.objects.select_for_update().in_force().on(source).order_by("locked_at", "pk"):
        moved = StaffLock.objects.create(target_type=target._meta.label_lower, target_id=target.pk, field=lock.field,
                                         tenant_id=lock.tenant_id, cause=lock.cause, value=lock.value,
                                         reason=lock.reason, locked_by=lock.locked_by, locked_at=timezone.now())
        audit_record(events.STAFF_LOCK_SET, action="carry", target_type="staff_lock", target_id=moved.pk,
                     after={"value": moved.value}, reason=reason,
                     metadata={**_lock_metadata(moved), "carried_from": str(lock.pk)})
        _lift(lock, reason=reason, actor=None)
        carried.append(moved)
    return carried


def staff_lock_ensure_unlocked(*, target: models.Model, attempted: dict[str, Any], field: str = "status") -> None:
    """On the tenant's path: raise ``StaffLocked`` if a lock is in force on ``target``'s ``field``. Call it after
    locking the target's row."""
    lock = staff_lock_in_force(target, field)
    if lock is not None:
        raise StaffLocked(lock, attempted=attempted)
