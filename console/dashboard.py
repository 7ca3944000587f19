"""The console's dashboard (the admin index): the catalog's dashboard queries, the viewer's pending approvals,
kill switches, dead letters, audit chain status and three charts.

Every block is one or two aggregate queries, whatever the size of the tables: the number of queries depends on
what the viewer may see, never on the data (a test compares two data sizes).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from string import Template
from typing import Any

from django.db import connection
from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, OuterRef, Subquery, Sum
from django.db.models.functions import TruncDate
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from console.charts import PALETTE, Series, bar_chart
from console.memory_hooks import unresolved_conflict_count

CHART_DAYS = 14
COUNTS_SQL = Template(
    "SELECT (SELECT COUNT(*) FROM $users), (SELECT COUNT(*) FROM $accounts), (SELECT COUNT(*) FROM $apps),"
    " (SELECT COUNT(*) FROM $agents), (SELECT COUNT(*) FROM $events), (SELECT COUNT(*) FROM $memory),"
    " (SELECT COUNT(*) FROM $decisions),"
    " (SELECT COUNT(*) FROM $events WHERE created_at >= %s),"
    " (SELECT COUNT(*) FROM $memory WHERE created_at >= %s),"
    " (SELECT COUNT(*) FROM $decisions WHERE created_at >= %s),"
    " (SELECT COUNT(*) FROM $memory am WHERE NOT EXISTS (SELECT 1 FROM $decisions hd WHERE hd.suggestion_id = am.id)),"
    " (SELECT COUNT(*) FROM $dead WHERE requeued_at IS NULL)"
)
PENDING_SHOWN = 5


@dataclass(frozen=True)
class Count_:
    label: str
    value: int
    url: str = ""


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _counts(since: datetime) -> dict[str, int]:
    """The catalog's record counts and last-24-hours activity, plus the backlogs, in one statement."""
    from agents.models import Agent, AgentMemory, HumanDecision
    from audit.models import AuditEvent
    from billing.models import BillingAccount
    from identity.models import Application, User
    from infrastructure.models import DeadLetterJob

    users, accounts, apps, agents = _table(User), _table(BillingAccount), _table(Application), _table(Agent)
    events, memory, decisions, dead = (_table(AuditEvent), _table(AgentMemory), _table(HumanDecision),
                                       _table(DeadLetterJob))
    # Table names come from the models' Meta, quoted by the backend: nothing here comes from a request.
    sql = COUNTS_SQL.substitute(users=users, accounts=accounts, apps=apps, agents=agents, events=events,
                                memory=memory, decisions=decisions, dead=dead)
    names = ("users", "billing_accounts", "applications", "agents", "audit_events", "agent_memory",
             "human_decisions", "audit_24h", "suggestions_24h", "decisions_24h", "pending_suggestions",
             "dead_letters")
    with connection.cursor() as cursor:
        cursor.execute(sql, [since, since, since])
        return dict(zip(names, cursor.fetchone(), strict=True))


def _days(now: datetime) -> list:
    today = now.date()
    return [today - timedelta(days=CHART_DAYS - 1 - i) for i in range(CHART_DAYS)]


def _as_date(value):
    return value.date() if isinstance(value, datetime) else value


def decisions_chart(now: datetime):
    """Agent decisions per day by outcome (one grouped query)."""
    from agents.models import AgentDecision
    from agents.models.decisions import Outcome

    days = _days(now)
    rows = {d: {} for d in days}
    start = timezone.make_aware(datetime.combine(days[0], datetime.min.time()))
    for day, outcome, n in (AgentDecision.objects.filter(created_at__gte=start).exclude(outcome="")
                            .annotate(day=TruncDate("created_at")).values_list("day", "outcome")
                            .annotate(n=Count("id")).order_by()):
        if _as_date(day) in rows:
            rows[_as_date(day)][outcome] = n
    series = [Series(value, str(label), PALETTE[i % len(PALETTE)]) for i, (value, label) in
              enumerate(Outcome.choices)]
    return bar_chart(title=str(_("Agent decisions per day, by outcome")), labels=[d.strftime("%m-%d") for d in days],
                     rows=[rows[d] for d in days], series=series, empty_text=str(_("no decisions yet")))


def ad_spend_chart(now: datetime):
    """Applied ad spend per day, in currency units (one grouped query)."""
    from ads.models import AdSpendEvent

    days = _days(now)
    rows = {d: {} for d in days}
    start = timezone.make_aware(datetime.combine(days[0], datetime.min.time()))
    for day, cents in (AdSpendEvent.objects.filter(created_at__gte=start, status=AdSpendEvent.Status.APPLIED)
                       .annotate(day=TruncDate("created_at")).values_list("day").annotate(total=Sum("amount"))
                       .values_list("day", "total").order_by()):
        if _as_date(day) in rows:
            rows[_as_date(day)]["spend"] = (cents or 0) / 100
    return bar_chart(title=str(_("Ad spend per day")), labels=[d.strftime("%m-%d") for d in days],
                     rows=[rows[d] for d in days], series=[Series("spend", str(_("applied spend")), PALETTE[0])],
                     value_format=lambda v: f"{v:,.2f}", empty_text=str(_("no spend yet")))


def approval_time_chart(now: datetime):
    """Average hours from request to decision, per day of decision (one grouped query)."""
    from governance.models import ApprovalRequest

    days = _days(now)
    rows = {d: {} for d in days}
    start = timezone.make_aware(datetime.combine(days[0], datetime.min.time()))
    waited = ExpressionWrapper(F("decided_at") - F("created_at"), output_field=DurationField())
    for day, average in (ApprovalRequest.objects.filter(decided_at__gte=start)
                         .exclude(status=ApprovalRequest.Status.EXPIRED)
                         .annotate(day=TruncDate("decided_at")).values_list("day")
                         .annotate(average=Avg(waited)).values_list("day", "average").order_by()):
        if _as_date(day) in rows and average is not None:
            seconds = average.total_seconds() if isinstance(average, timedelta) else float(average) / 1e6
            rows[_as_date(day)]["hours"] = seconds / 3600
    return bar_chart(title=str(_("Average approval time (hours), by day of decision")),
                     labels=[d.strftime("%m-%d") for d in days], rows=[rows[d] for d in days],
                     series=[Series("hours", str(_("hours to decide")), PALETTE[1])],
                     value_format=lambda v: f"{v:,.1f}", empty_text=str(_("no decided requests yet")))


def kill_switches_in_force(now: datetime) -> list[dict[str, Any]]:
    from identity.models import User
    from infrastructure.models import KillSwitch

    who = User.objects.filter(pk=OuterRef("activated_by")).values("username")[:1]
    return [
        {"scope": s.scope, "reason": s.reason, "who": s.who or (str(s.activated_by) if s.activated_by else ""),
         "since": s.activated_at, "expires_at": s.expires_at}
        for s in KillSwitch.objects.filter(active=True).annotate(who=Subquery(who)).order_by("scope")
        if s.expires_at is None or s.expires_at > now
    ]


def chain_status() -> dict[str, Any]:
    from audit import events as audit_events
    from audit.models import AuditEvent
    from audit.selectors import chain_head, staged_backlog

    verified = (AuditEvent.objects.filter(type=audit_events.AUDIT_VERIFIED).order_by("-sequence")
                .values("created_at", "after", "actor_id").first())
    checkpoint = (AuditEvent.objects.filter(type=audit_events.AUDIT_CHECKPOINT_SIGNED).order_by("-sequence")
                  .values("created_at", "after", "metadata").first())
    head = chain_head()
    backlog, oldest = staged_backlog()
    result = None
    if verified:
        after = verified["after"] if isinstance(verified["after"], dict) else {}
        result = after.get("ok")
    return {"verified_at": verified and verified["created_at"], "verified_ok": result,
            "checkpoint_at": checkpoint and checkpoint["created_at"],
            "checkpoint_sequence": checkpoint and (
                (checkpoint["after"] or {}).get("sequence") if isinstance(checkpoint["after"], dict) else None),
            "head_sequence": head[0] if head else 0, "staged": backlog, "oldest_staged": oldest}


def _can(user, perm: str) -> bool:
    return user.has_perm(perm)


def dashboard(user, *, now: datetime | None = None) -> dict[str, Any]:
    from billing.models import Payout
    from core.admin import money
    from governance.selectors import approvals_decidable_by

    now = now or timezone.now()
    counts = _counts(now - timedelta(hours=24))
    decidable = approvals_decidable_by(user=user, now=now)
    pending = list(decidable.order_by("expires_at")[:PENDING_SHOWN])
    data: dict[str, Any] = {
        "counts": counts,
        "records": [
            Count_(_("users"), counts["users"], _url(user, "identity", "user")),
            Count_(_("billing accounts"), counts["billing_accounts"], _url(user, "billing", "billingaccount")),
            Count_(_("applications"), counts["applications"], _url(user, "identity", "application")),
            Count_(_("agents"), counts["agents"], _url(user, "agents", "agent")),
            Count_(_("audit events"), counts["audit_events"], _url(user, "audit", "auditevent")),
            Count_(_("observer suggestions"), counts["agent_memory"], _url(user, "agents", "agentmemory")),
            Count_(_("human decisions"), counts["human_decisions"], _url(user, "agents", "humandecision")),
        ],
        "activity": [
            Count_(_("audit events"), counts["audit_24h"]),
            Count_(_("observer suggestions"), counts["suggestions_24h"]),
            Count_(_("human decisions"), counts["decisions_24h"]),
        ],
        "pending_suggestions": counts["pending_suggestions"],
        "pending_suggestions_url": _url(user, "agents", "agentmemory"),
        "dead_letters": counts["dead_letters"],
        "dead_letters_url": _url(user, "infrastructure", "deadletterjob"),
        "pending_approvals": pending,
        "pending_approvals_count": decidable.count(),
        "unresolved_conflicts": unresolved_conflict_count(),
        "kill_switches": kill_switches_in_force(now),
        "chain": chain_status(),
        "charts": [decisions_chart(now), ad_spend_chart(now), approval_time_chart(now)],
        "can_inbox": _can(user, "governance.view_approvalrequest"),
        "can_killswitches": _can(user, "infrastructure.view_killswitch"),
    }
    if _can(user, "billing.view_payout"):
        awaiting = Payout.objects.filter(approval=Payout.Approval.AWAITING).select_related("account")
        data["payouts_awaiting"] = [
            {"pk": p.pk, "amount": money(p.amount, p.account.currency), "created_at": p.created_at}
            for p in awaiting.order_by("created_at")[:PENDING_SHOWN]]
        data["payouts_awaiting_count"] = awaiting.count()
        data["payouts_awaiting_url"] = (reverse("admin:billing_payout_changelist")
                                        + f"?approval__exact={Payout.Approval.AWAITING}")
    return data


def _url(user, app_label: str, model_name: str) -> str:
    if not user.has_perm(f"{app_label}.view_{model_name}"):
        return ""
    return reverse(f"admin:{app_label}_{model_name}_changelist")
