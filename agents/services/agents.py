"""Agents and their per-domain policies: created and changed by tenants (API) and tech leads (console)."""
from __future__ import annotations

import math
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from agents import errors, events
from agents.executors import actions_of, domains
from agents.models import Agent, AgentPolicy
from agents.selectors import agent_get, parse_uuid
from audit.services import audit_record
from billing.models import MAX_AMOUNT
from core.errors import Conflict, InvalidInput, NotFound
from identity.models import Application
from infrastructure.services.staff_locks import (
    is_staff_actor,
    staff_lock_ensure_unlocked,
    staff_lock_lift,
    staff_lock_set,
)

POLICY_FIELDS = ("allowed_actions", "max_amount", "requires_approval", "max_risk_score", "daily_limit")
MAX_DAILY_LIMIT = 1_000_000


def _actor_kwargs(actor: Any) -> dict[str, Any]:
    if actor is None or getattr(actor, "pk", None) is None or not hasattr(actor, "_meta"):
        return {}
    return {"actor_id": actor.pk, **({"actor_type": "admin"} if getattr(actor, "is_staff", False) else {})}


def _save(instance, *, actor: Any, reason: str, **kwargs) -> None:
    instance._change_reason = reason[:100]
    if actor is not None and hasattr(actor, "_meta") and getattr(actor, "pk", None) is not None:
        instance._history_user = actor
    instance.save(**kwargs)


def _agent_snapshot(agent: Agent) -> dict[str, Any]:
    return {"name": agent.name, "type": agent.type, "status": agent.status,
            "app_id": str(agent.app_id) if agent.app_id else None}


def _clean_name(name: Any) -> str:
    name = str(name or "").replace("\x00", "").strip() if isinstance(name, str) else ""
    if not name or len(name) > 200:
        raise InvalidInput(fields={"name": [_("A name of 1 to 200 characters is required.")]})
    return name


def _tenant_app(*, tenant_id: Any, app_id: Any) -> Application | None:
    if app_id in (None, ""):
        return None
    app = Application.objects.filter(pk=parse_uuid(app_id), owner_id=tenant_id).exclude(
        status=Application.Status.DELETED).first() if parse_uuid(app_id) else None
    if app is None:
        raise NotFound(_("Application not found."), code="app_not_found")
    return app


def _policy_field(domain: str) -> str:
    """The staff lock's field for an agent's policy in ``domain`` (the lock is on the agent: it holds whether the
    policy row exists or not, so deleting it does not drop the lock)."""
    return f"policy:{domain}"


def _staff_status_lock(agent: Agent, *, actor: Any, reason: str) -> None:
    """A staff member set the agent's status: suspending locks it (the tenant cannot reactivate it), reactivating
    lifts staff's lock. The caller holds the agent's row lock."""
    why = reason or _("set in the console")
    if agent.status == Agent.Status.SUSPENDED:
        staff_lock_set(target=agent, tenant_id=agent.tenant_id, value={"status": agent.status}, reason=why,
                       actor=actor)
    else:
        staff_lock_lift(target=agent, reason=why, actor=actor)


def _name_taken() -> Conflict:
    return Conflict(_("The tenant already has an agent with this name."), code=errors.AGENT_NAME_TAKEN,
                    fields={"name": [_("Choose another name.")]})


@transaction.atomic
def agent_create(*, tenant_id: Any, name: str, type: str, app_id: Any = None, status: str = Agent.Status.ACTIVE,
                 actor: Any = None) -> Agent:
    """An agent of the tenant (optionally tied to one of its apps). Names are unique per tenant."""
    name = _clean_name(name)
    problems = {}
    if type not in Agent.Type.values:
        problems["type"] = [_("One of: %(v)s.") % {"v": ", ".join(Agent.Type.values)}]
    if status not in Agent.Status.values:
        problems["status"] = [_("One of: %(v)s.") % {"v": ", ".join(Agent.Status.values)}]
    if problems:
        raise InvalidInput(fields=problems)
    app = _tenant_app(tenant_id=tenant_id, app_id=app_id)
    now = timezone.now()
    agent = Agent(tenant_id=tenant_id, app=app, name=name, type=type, status=status, created_at=now, updated_at=now)
    try:
        with transaction.atomic():
            _save(agent, actor=actor, reason="created")
    except IntegrityError:
        raise _name_taken() from None
    audit_record(events.AGENT_CREATED, action="create", target_type="agent", target_id=agent.pk,
                 after=_agent_snapshot(agent), metadata={"tenant_id": str(tenant_id)}, **_actor_kwargs(actor))
    if is_staff_actor(actor) and agent.status == Agent.Status.SUSPENDED:
        _staff_status_lock(agent, actor=actor, reason=_("created suspended in the console"))
    return agent


_UNSET = object()


@transaction.atomic
def agent_update(*, agent_id: Any, tenant_id: Any = None, name: Any = _UNSET, status: Any = _UNSET,
                 app_id: Any = _UNSET, actor: Any = None, reason: str = "") -> Agent:
    """Rename, suspend or reactivate an agent, or tie it to another of the tenant's apps. A suspended agent's
    proposals are rejected, and so are its decisions still waiting for approval when they are approved.

    A staff member (``actor``, from the console) who suspends an agent locks its status: the tenant's calls
    (``tenant_id`` given) that would reactivate it are refused with 409 ``status_locked_by_staff`` until staff
    reactivate it (or lift the lock); the tenant may still rename it or suspend it. ``status`` is the new status,
    or left out to keep it."""
    found = agent_get(agent_id=agent_id, tenant_id=tenant_id)
    agent = Agent.objects.select_for_update().get(pk=found.pk)
    before = _agent_snapshot(agent)
    if name is not _UNSET:
        agent.name = _clean_name(name)
    if status is not _UNSET:
        if status not in Agent.Status.values:
            raise InvalidInput(fields={"status": [_("One of: %(v)s.") % {"v": ", ".join(Agent.Status.values)}]})
        if tenant_id is not None and status == Agent.Status.ACTIVE:
            # Checked under the agent's row lock, which a staff suspension holds until it commits its lock.
            staff_lock_ensure_unlocked(target=agent, attempted={"status": status})
        agent.status = status
    if app_id is not _UNSET:
        agent.app = _tenant_app(tenant_id=agent.tenant_id, app_id=app_id)
    if status is not _UNSET and tenant_id is None and is_staff_actor(actor):
        # Even when the status does not change: staff suspending an agent its tenant had paused lock it.
        _staff_status_lock(agent, actor=actor, reason=reason)
    if _agent_snapshot(agent) == before:
        return agent
    agent.updated_at = timezone.now()
    try:
        with transaction.atomic():
            _save(agent, actor=actor, reason=reason or "changed")
    except IntegrityError:
        raise _name_taken() from None
    audit_record(events.AGENT_UPDATED, action="update", target_type="agent", target_id=agent.pk, before=before,
                 after=_agent_snapshot(agent), reason=reason, **_actor_kwargs(actor))
    if before["status"] != agent.status and agent.status == Agent.Status.SUSPENDED:
        from agents.services.memory import agent_context_changed

        agent_context_changed(agent_id=agent.pk, actor=actor,
                              reason=f"agent {agent.name} suspended: {reason or 'no reason given'}")
    return agent


def _json_policy(values: dict[str, Any]) -> dict[str, Any]:
    return {key: values[key] for key in POLICY_FIELDS}


def _policy_snapshot(policy: AgentPolicy) -> dict[str, Any]:
    return {"domain": policy.domain, **{f: getattr(policy, f) for f in POLICY_FIELDS}}


def _whole(value: Any, *, low: int, high: int) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and low <= value <= high


def _check_policy(domain: Any, values: dict[str, Any]) -> None:
    if domain not in domains():
        raise InvalidInput(_("Agents act in no such domain."), code=errors.UNKNOWN_ACTION,
                           fields={"domain": [_("One of: %(v)s.") % {"v": ", ".join(domains())}]})
    problems: dict[str, list[str]] = {}
    actions = values["allowed_actions"]
    known = actions_of(domain)
    if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
        problems["allowed_actions"] = [_("A JSON list of action names.")]
    elif unknown := sorted(set(actions) - set(known)):
        problems["allowed_actions"] = [_("Unknown in %(d)s: %(u)s (known: %(k)s).")
                                       % {"d": domain, "u": ", ".join(unknown), "k": ", ".join(known)}]
    if values["max_amount"] is not None and not _whole(values["max_amount"], low=0, high=MAX_AMOUNT):
        problems["max_amount"] = [_("Whole cents from 0 to %(m)d, or null.") % {"m": MAX_AMOUNT}]
    if not isinstance(values["requires_approval"], bool):
        problems["requires_approval"] = [_("true or false.")]
    risk = values["max_risk_score"]
    if risk is not None and (isinstance(risk, bool) or not isinstance(risk, (int, float)) or not math.isfinite(risk)
                             or not 0 <= risk <= 1):
        problems["max_risk_score"] = [_("A score from 0 to 1, or null.")]
    if values["daily_limit"] is not None and not _whole(values["daily_limit"], low=0, high=MAX_DAILY_LIMIT):
        problems["daily_limit"] = [_("A whole number from 0 to %(m)d, or null.") % {"m": MAX_DAILY_LIMIT}]
    if problems:
        raise InvalidInput(_("The agent policy is not valid."), fields=problems)


def agent_policy_check(*, domain: Any, allowed_actions: Any, max_amount: Any = None, requires_approval: Any = False,
                       max_risk_score: Any = None, daily_limit: Any = None) -> None:
    """Raise the 400 that ``agent_policy_set`` would raise for these values (for forms that validate first)."""
    _check_policy(domain, {"allowed_actions": allowed_actions, "max_amount": max_amount,
                           "requires_approval": requires_approval, "max_risk_score": max_risk_score,
                           "daily_limit": daily_limit})


@transaction.atomic
def agent_policy_set(*, agent_id: Any, domain: str, allowed_actions: list[str], max_amount: int | None = None,
                     requires_approval: bool = False, max_risk_score: float | None = None,
                     daily_limit: int | None = None, tenant_id: Any = None, actor: Any = None,
                     reason: str = "") -> tuple[AgentPolicy, bool]:
    """Create or replace the agent's policy for ``domain``; returns ``(policy, created)``. Nothing given is a limit
    left out (null): an empty ``allowed_actions`` allows nothing.

    A policy a staff member (``actor``, from the console) sets is locked for the domain: the tenant's calls
    (``tenant_id`` given) can neither replace nor remove it (409 ``status_locked_by_staff``) until staff lift the
    lock in the console ("Staff locks")."""
    agent = agent_get(agent_id=agent_id, tenant_id=tenant_id)
    values = {"allowed_actions": allowed_actions, "max_amount": max_amount, "requires_approval": requires_approval,
              "max_risk_score": max_risk_score, "daily_limit": daily_limit}
    _check_policy(domain, values)
    values["allowed_actions"] = sorted(set(allowed_actions))
    if max_risk_score is not None:
        values["max_risk_score"] = float(max_risk_score)
    Agent.objects.select_for_update().filter(pk=agent.pk).first()  # serialises the agent's policy changes
    if tenant_id is not None:
        staff_lock_ensure_unlocked(target=agent, field=_policy_field(domain),
                                   attempted={"domain": domain, **_json_policy(values)})
    policy = AgentPolicy.objects.filter(agent=agent, domain=domain).first()
    created = policy is None
    before = None if created else _policy_snapshot(policy)
    policy = policy or AgentPolicy(agent=agent, domain=domain, created_at=timezone.now())
    for key, value in values.items():
        setattr(policy, key, value)
    if tenant_id is None and is_staff_actor(actor):
        staff_lock_set(target=agent, field=_policy_field(domain), tenant_id=agent.tenant_id,
                       value=_json_policy(values), reason=reason or _("set in the console"), actor=actor)
    if not created and _policy_snapshot(policy) == before:
        return policy, False
    policy.updated_at = timezone.now()
    _save(policy, actor=actor, reason=reason or ("created" if created else "changed"))
    audit_record(events.AGENT_POLICY_SET, action="create" if created else "update", target_type="agent_policy",
                 target_id=policy.pk, before=before, after=_policy_snapshot(policy), reason=reason,
                 metadata={"agent_id": str(agent.pk)}, **_actor_kwargs(actor))
    return policy, created


@transaction.atomic
def agent_policy_delete(*, agent_id: Any, domain: str, tenant_id: Any = None, actor: Any = None,
                        reason: str = "") -> None:
    """Remove the agent's policy for ``domain``: from then on it may do nothing there (history keeps the row).

    A policy staff set or removed in the console is locked (``agent_policy_set``): the tenant can neither replace
    nor remove it (409 ``status_locked_by_staff``). Staff removing one lock the domain empty."""
    agent = agent_get(agent_id=agent_id, tenant_id=tenant_id)
    Agent.objects.select_for_update().filter(pk=agent.pk).first()  # serialises the agent's policy changes
    if tenant_id is not None:
        staff_lock_ensure_unlocked(target=agent, field=_policy_field(domain), attempted={"domain": domain,
                                                                                        "deleted": True})
    policy = AgentPolicy.objects.select_for_update().filter(agent=agent, domain=domain).first()
    if policy is None:
        raise NotFound(_("This agent has no policy for this domain."), code=errors.POLICY_NOT_FOUND)
    if tenant_id is None and is_staff_actor(actor):
        staff_lock_set(target=agent, field=_policy_field(domain), tenant_id=agent.tenant_id,
                       value={"deleted": True}, reason=reason or _("removed in the console"), actor=actor)
    before = _policy_snapshot(policy)
    policy._change_reason = (reason or "deleted")[:100]
    if actor is not None and hasattr(actor, "_meta"):
        policy._history_user = actor
    target_id = policy.pk
    policy.delete()
    audit_record(events.AGENT_POLICY_DELETED, action="delete", target_type="agent_policy", target_id=target_id,
                 before=before, reason=reason, metadata={"agent_id": str(agent.pk)}, **_actor_kwargs(actor))
