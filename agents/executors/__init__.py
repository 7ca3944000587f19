"""The executor registry: how each (domain, action) an agent may propose is validated, simulated and executed.

An executor belongs to one (domain, action). ``prepare`` checks the payload (400 with ``payload.<field>`` messages)
and resolves the target entity within the agent's tenant (another tenant's or an unknown id is a 404), and says how
much money the action involves; ``simulate`` answers what the domain would do, without writing (shadow mode);
``execute`` calls the domain's own services, so every domain invariant and kill switch applies at execution time.

Executors register from ``AgentsConfig.ready()`` (``agents.executors.ads`` and ``agents.executors.billing``)::

    register_executor("ads", "pause_campaign", targets=("campaign",), prepare=..., simulate=..., execute=...)
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _

from agents import errors
from core.errors import InvalidInput
from governance.jsonvalues import json_ready


@dataclass(frozen=True)
class Target:
    """A parsed ``target_entity``: ``<kind>:<uuid>``."""

    kind: str
    id: uuid.UUID

    @property
    def entity(self) -> str:
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True)
class Prepared:
    """What an executor's ``prepare`` returns: the normalised payload (what will be executed), the money involved,
    the domain object it acts on, and extra facts for policies (``context``: never secrets, masked where needed)."""

    payload: dict[str, Any]
    amount: int
    target_type: str
    target_id: str
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PreparedAction:
    domain: str
    action: str
    tenant_id: uuid.UUID
    target: Target
    payload: dict[str, Any]
    amount: int
    target_type: str
    target_id: str
    context: dict[str, Any]

    @property
    def target_entity(self) -> str:
        return self.target.entity


@dataclass(frozen=True)
class ExecutionContext:
    """Who executes, for whom: the decision (its id makes domain idempotency keys), the agent, the app, and the
    person who approved it (None for an autonomous execution)."""

    decision_id: uuid.UUID
    agent_id: uuid.UUID
    app_id: uuid.UUID | None
    approved_by: Any = None

    @property
    def reference(self) -> str:
        return f"agent_decision:{self.decision_id}"

    @property
    def reason(self) -> str:
        return f"agent decision {self.decision_id}"


Prepare = Callable[..., Prepared]
Simulate = Callable[[PreparedAction], dict[str, Any]]
Execute = Callable[[PreparedAction, ExecutionContext], dict[str, Any]]


@dataclass(frozen=True)
class Executor:
    domain: str
    action: str
    targets: tuple[str, ...]
    moves_money: bool
    prepare: Prepare
    simulate: Simulate
    execute: Execute
    description: str = ""
    payload_help: str = ""


_REGISTRY: dict[tuple[str, str], Executor] = {}


def register_executor(domain: str, action: str, *, targets: tuple[str, ...], prepare: Prepare, simulate: Simulate,
                      execute: Execute, moves_money: bool = False, description: str = "",
                      payload_help: str = "") -> Executor:
    key = (domain, action)
    if key in _REGISTRY:
        raise ImproperlyConfigured(f"an executor for {domain}.{action} is registered twice")
    if not targets or not all(callable(f) for f in (prepare, simulate, execute)):
        raise ImproperlyConfigured(f"executor {domain}.{action} needs target kinds and three callables")
    executor = Executor(domain, action, tuple(targets), moves_money, prepare, simulate, execute, description,
                        payload_help)
    _REGISTRY[key] = executor
    return executor


def unregister_executor(domain: str, action: str) -> None:
    _REGISTRY.pop((domain, action), None)


def executors() -> list[Executor]:
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def domains() -> list[str]:
    return sorted({d for d, _a in _REGISTRY})


def actions_of(domain: str) -> list[str]:
    return sorted(a for d, a in _REGISTRY if d == domain)


def executor_get(domain: Any, action: Any) -> Executor:
    """The executor of (domain, action), or a 400 ``unknown_action`` naming what exists."""
    found = _REGISTRY.get((domain, action)) if isinstance(domain, str) and isinstance(action, str) else None
    if found is not None:
        return found
    if domain not in domains():
        raise InvalidInput(_("No agent actions exist in this domain."), code=errors.UNKNOWN_ACTION,
                           fields={"domain": [_("One of: %(v)s.") % {"v": ", ".join(domains())}]})
    raise InvalidInput(_("Agents cannot propose this action."), code=errors.UNKNOWN_ACTION,
                       fields={"action": [_("One of: %(v)s.") % {"v": ", ".join(actions_of(domain))}]})


def target_parse(value: Any, *, kinds: tuple[str, ...]) -> Target:
    """``<kind>:<uuid>`` with a kind the executor accepts; anything else is a 400 ``invalid_target``."""
    problem = None
    if not isinstance(value, str) or ":" not in value:
        problem = _("Use <kind>:<id>, e.g. %(e)s.") % {"e": f"{kinds[0]}:<uuid>"}
    else:
        kind, _sep, raw = value.partition(":")
        if kind not in kinds:
            problem = _("This action acts on: %(k)s.") % {"k": ", ".join(kinds)}
        else:
            try:
                return Target(kind, uuid.UUID(raw))
            except ValueError:
                problem = _("The id after '%(k)s:' must be a UUID.") % {"k": kind}
    raise InvalidInput(_("The target entity is not valid for this action."), code=errors.INVALID_TARGET,
                       fields={"target_entity": [problem]})


def prefixed(exc: InvalidInput, prefix: str = "payload") -> InvalidInput:
    """The same 400 with its field names under ``payload.``."""
    fields = {f"{prefix}.{k}" if not k.startswith(f"{prefix}.") else k: v for k, v in (exc.fields or {}).items()}
    return InvalidInput(exc.message, code=exc.code, fields=fields or {prefix: [exc.message]}, extra=exc.extra)


def payload_check(payload: Any, *, required: tuple[str, ...] = (), optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """A JSON object holding the required keys and no unknown ones."""
    if not isinstance(payload, dict):
        raise InvalidInput(fields={"payload": [_("A JSON object is required.")]})
    problems = {f"payload.{k}": [_("This field is required.")] for k in required if k not in payload}
    problems.update({f"payload.{k}": [_("Unknown field; this action takes: %(f)s.")
                                      % {"f": ", ".join((*required, *optional)) or "-"}]
                     for k in payload if k not in required and k not in optional})
    if problems:
        raise InvalidInput(fields=problems)
    return json_ready(payload, field="payload")


def payload_text(payload: dict[str, Any], key: str, *, max_length: int = 500) -> str:
    value = payload.get(key, "")
    if not isinstance(value, str) or len(value) > max_length:
        raise InvalidInput(fields={f"payload.{key}": [_("Text of at most %(n)d characters.") % {"n": max_length}]})
    return value.strip()


def executor_prepare(executor: Executor, *, tenant_id: Any, app_id: Any, target_entity: Any,
                     payload: Any) -> PreparedAction:
    """Validate the payload and resolve the target within the tenant (raises 400 / 404; writes nothing).

    ``app_id`` is the application the agent acts through (its own, else the calling one): a target that is a person's
    money (an account, a ledger entry, an ad account's spend) must be of a person proven to that application
    (``billing.tenancy``); None reaches no person."""
    target = target_parse(target_entity, kinds=executor.targets)
    if not isinstance(payload, dict):
        raise InvalidInput(fields={"payload": [_("A JSON object is required.")]})
    try:
        prepared = executor.prepare(tenant_id=tenant_id, app_id=app_id, target=target, payload=payload)
    except InvalidInput as exc:
        raise prefixed(exc) from None
    return PreparedAction(domain=executor.domain, action=executor.action, tenant_id=tenant_id, target=target,
                          payload=json_ready(prepared.payload, field="payload"), amount=int(prepared.amount),
                          target_type=prepared.target_type, target_id=str(prepared.target_id),
                          context=json_ready(prepared.context, field="payload"))


def simulation_dict(*, action: str, would_apply: bool, changes: bool, target_type: str, target_id: Any,
                    code: str | None = None, status: int | None = None, message: str = "",
                    before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> dict[str, Any]:
    """A simulation's answer, in the shape of ``ads.simulations.Simulation.as_dict()``."""
    before = before or {}
    return {"action": action, "would_apply": would_apply, "changes": changes, "target_type": target_type,
            "target_id": str(target_id) if target_id else None, "code": code, "status": status, "message": message,
            "before": before, "after": before if after is None else after}
