"""Observer suggestions and the people's decisions on them.

A suggestion (``agent_memory``) stores the snapshot the observer saw as canonical JSON (RFC 8785: keys sorted, no
whitespace, UTF-8, no NaN) and ``snapshot_hash`` = SHA-256 of those bytes, lowercase hex. A person decides accepted,
ignored or deferred with a reason of at least 3 characters (``human_decisions``, with IP and user agent); one decision
per suggestion, unless the previous one was ``deferred``.
"""
from __future__ import annotations

import hashlib
import math
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from agents import errors, events
from agents.models import Agent, AgentMemory, HumanDecision
from agents.selectors import agent_get
from audit.rows import row_digest
from audit.services import audit_record
from core.errors import Conflict, InvalidInput
from core.integrity.canonical import canonical_json
from governance.jsonvalues import json_ready
from infrastructure.services.killswitches import killswitch_ensure_running

MAX_TEXT = 10_000
MAX_SNAPSHOT_BYTES = 256 * 1024
MIN_REASON = 3
MAX_REASON = 2000


def snapshot_canonical(snapshot: Any) -> str:
    """The one spelling of a snapshot (a JSON object) that is stored and hashed."""
    if not isinstance(snapshot, dict):
        raise InvalidInput(fields={"snapshot": [_("A JSON object is required.")]})
    text = canonical_json(json_ready(snapshot, field="snapshot"))
    if len(text.encode()) > MAX_SNAPSHOT_BYTES:
        raise InvalidInput(fields={"snapshot": [_("At most %(n)d bytes of canonical JSON.")
                                                % {"n": MAX_SNAPSHOT_BYTES}]})
    return text


def snapshot_hash(snapshot: Any) -> str:
    """SHA-256 (hex) of the snapshot's canonical JSON."""
    return hashlib.sha256(snapshot_canonical(snapshot).encode()).hexdigest()


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
        raise InvalidInput(fields={field: [_("Text of 1 to %(n)d characters.") % {"n": MAX_TEXT}]})
    return value.replace("\x00", "").strip()


@transaction.atomic
def suggestion_record(*, agent_id: Any, tenant_id: Any, confidence: Any, finding: Any, suggestion: Any,
                      snapshot: Any, app_id: Any = None) -> AgentMemory:
    """Store an observer's suggestion (append-only). The agent must be an active observer of the tenant (404
    otherwise for another tenant's); the ``agents`` / ``all`` kill switches halt observers too (423)."""
    agent = agent_get(agent_id=agent_id, tenant_id=tenant_id)
    problems: dict[str, list[str]] = {}
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not math.isfinite(confidence) \
            or not 0 <= confidence <= 1:
        problems["confidence"] = [_("A number from 0 to 1.")]
    for key, value in (("finding", finding), ("suggestion", suggestion)):
        try:
            _text(value, key)
        except InvalidInput as exc:
            problems.update(exc.fields)
    try:
        canonical = snapshot_canonical(snapshot)
    except InvalidInput as exc:
        problems.update(exc.fields)
    if problems:
        raise InvalidInput(fields=problems)
    if agent.type != Agent.Type.OBSERVER:
        raise InvalidInput(_("Only observer agents make suggestions."), code=errors.NOT_AN_OBSERVER,
                           fields={"agent_id": [_("This agent is a %(t)s, not an observer.") % {"t": agent.type}]})
    if not agent.is_active:
        raise Conflict(_("This observer is suspended."), code=errors.OBSERVER_SUSPENDED)
    killswitch_ensure_running("agents")
    memory = AgentMemory.objects.create(
        agent_name=agent.name, observer=agent, tenant_id=agent.tenant_id, app_id=agent.app_id or app_id,
        confidence=float(confidence), finding=_text(finding, "finding"), suggestion=_text(suggestion, "suggestion"),
        snapshot=canonical, snapshot_hash=hashlib.sha256(canonical.encode()).hexdigest(), created_at=timezone.now())
    audit_record(events.OBSERVER_SUGGESTION_RECORDED, action="suggest", target_type="agent_memory",
                 target_id=memory.pk, after={"agent": agent.name, "confidence": memory.confidence,
                                             "snapshot_hash": memory.snapshot_hash},
                 metadata={"row_digest": row_digest(memory)},
                 actor_id=agent.pk, actor_type="agent", app_id=memory.app_id)
    return memory


@transaction.atomic
def suggestion_decide(*, suggestion_id: Any, user, decision: Any, reason: Any, ip: str | None = None,
                      user_agent: str = "", channel: str = HumanDecision.Channel.API) -> HumanDecision:
    """Record a person's decision on a suggestion (the one path for the API and the console).

    400 for a decision outside accepted / ignored / deferred or a reason under 3 characters; 409
    ``suggestion_already_decided`` when it was accepted or ignored already (a deferred one can be decided again).
    Who may decide is the caller's business: the API lets the tenant's owner and people with a decision authority
    covering ``agents`` decide, the console those with the ``decide_suggestion`` permission."""
    problems = {}
    if decision not in HumanDecision.Decision.values:
        problems["decision"] = [_("One of: %(v)s.") % {"v": ", ".join(HumanDecision.Decision.values)}]
    text = reason.strip() if isinstance(reason, str) else ""
    if len(text) < MIN_REASON or len(text) > MAX_REASON:
        problems["reason"] = [_("Say why in %(a)d to %(b)d characters.") % {"a": MIN_REASON, "b": MAX_REASON}]
    if channel not in HumanDecision.Channel.values:
        problems["channel"] = [_("One of: %(v)s.") % {"v": ", ".join(HumanDecision.Channel.values)}]
    if problems:
        raise InvalidInput(fields=problems)
    # The row lock serialises deciders of one suggestion (a SELECT … FOR UPDATE is no UPDATE: the append-only
    # triggers allow it).
    suggestion = AgentMemory.objects.select_for_update().filter(pk=suggestion_id).first()
    if suggestion is None:
        raise errors.SuggestionNotFound()
    last = suggestion.decisions.order_by("-created_at").values_list("decision", flat=True).first()
    if last is not None and last != HumanDecision.Decision.DEFERRED:
        raise Conflict(_("This suggestion was already %(d)s.") % {"d": last}, code=errors.SUGGESTION_DECIDED,
                       extra={"decision": last})
    try:
        with transaction.atomic():
            row = HumanDecision.objects.create(
                suggestion=suggestion, decision=decision, reason=text.replace("\x00", ""),
                human=(user.get_username() or str(user.pk))[:200], decided_by=user, channel=channel, ip=ip,
                user_agent=(user_agent or "")[:512], created_at=timezone.now())
    except IntegrityError:
        raise Conflict(_("This suggestion was already decided."), code=errors.SUGGESTION_DECIDED) from None
    audit_record(events.SUGGESTION_DECIDED, action=decision, target_type="agent_memory", target_id=suggestion.pk,
                 before={"decision": last}, after={"decision": decision, "human_decision_id": str(row.pk)},
                 reason=text, actor_id=user.pk, actor_type="admin" if user.is_staff else "user",
                 metadata={"channel": channel, "row_digest": row_digest(row)})
    return row
