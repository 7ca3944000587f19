"""Risk scoring: named factors, each a value from 0 to 1, weighted into a score from 0 to 1, mapped to a level.

A decision's score uses ``DECISION_FACTORS``; an app's (and each of its agents') periodic score uses
``APP_FACTORS``. An app's ``risk_configs`` row may override any weight (0 leaves a factor out) and the thresholds.
Every score is stored with its factors: for each, the value, the weight, the detail that explains the value and the
contribution ``weight * value / sum of weights``; the contributions add up to the score, and only factors with a weight
above zero are listed (they are the ones that produced the number).
"""
from __future__ import annotations

import json
import math
import uuid
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from django.db import connection, models, transaction
from django.db.models import Avg, Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from ads.models import AdAccount, AdBudget
from agents import events
from agents.models import AgentDailyStats, AgentDecision, RiskConfig, RiskHistory, RiskLevel, RiskScore
from audit.rows import group_record
from audit.services import audit_record
from billing.models import PaymentIntent
from core.errors import InvalidInput
from identity.models import Application

AMOUNT_VS_LIMIT = "amount_vs_limit"
REJECTION_RATE = "rejection_rate"
VELOCITY = "velocity"
NEW_TARGET = "new_target"
TIME_OF_DAY = "time_of_day"
DISPUTE_HISTORY = "dispute_history"
DECISION_RISK = "decision_risk"

DECISION_FACTORS = {AMOUNT_VS_LIMIT: 0.30, REJECTION_RATE: 0.20, VELOCITY: 0.15, NEW_TARGET: 0.10,
                    TIME_OF_DAY: 0.10, DISPUTE_HISTORY: 0.15}
APP_FACTORS = {DECISION_RISK: 0.40, REJECTION_RATE: 0.25, VELOCITY: 0.15, DISPUTE_HISTORY: 0.20}
FACTOR_NAMES = tuple(dict.fromkeys([*DECISION_FACTORS, *APP_FACTORS]))
DEFAULT_THRESHOLDS: dict[str, float] = {"medium": 0.3, "high": 0.6, "critical": 0.85, "velocity_per_hour": 30,
                                        "amount_reference": 100_000}
LEVEL_KEYS = ("medium", "high", "critical")
MAX_WEIGHT = 100
REJECTION_WINDOW = timedelta(days=7)
REJECTION_MIN_SAMPLE = 10  # fewer proposals than this are counted as this many: one early refusal is not a trend
DISPUTE_WINDOW = timedelta(days=90)
DISPUTES_FOR_MAX = 3
NIGHT_HOURS = frozenset(range(0, 6))
LATE_HOURS = frozenset({22, 23})


@dataclass(frozen=True)
class Factor:
    name: str
    value: float
    weight: float
    contribution: float
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RiskAssessment:
    score: float
    level: str
    factors: tuple[Factor, ...]

    def factors_json(self) -> list[dict[str, Any]]:
        return [f.as_dict() for f in self.factors]


@dataclass(frozen=True)
class RiskSettings:
    decision_weights: dict[str, float]
    app_weights: dict[str, float]
    thresholds: dict[str, float]


def _clamp(value: float) -> float:
    return 0.0 if value <= 0 else 1.0 if value >= 1 else float(value)


def risk_level(score: float, thresholds: dict[str, float]) -> str:
    if score >= thresholds["critical"]:
        return RiskLevel.CRITICAL
    if score >= thresholds["high"]:
        return RiskLevel.HIGH
    if score >= thresholds["medium"]:
        return RiskLevel.MEDIUM
    return RiskLevel.LOW


def risk_combine(values: dict[str, tuple[float, str]], weights: dict[str, float],
                 thresholds: dict[str, float]) -> RiskAssessment:
    """Weight the factor ``values`` (name → (value 0..1, detail)) into a score and level."""
    used = [(name, _clamp(values[name][0]), float(weight), values[name][1]) for name, weight in weights.items()
            if weight > 0 and name in values]
    total = math.fsum(w for _n, _v, w, _d in used)
    factors = tuple(Factor(name, value, weight, weight * value / total if total else 0.0, detail)
                    for name, value, weight, detail in used)
    score = _clamp(math.fsum(f.contribution for f in factors))
    return RiskAssessment(score=score, level=risk_level(score, thresholds), factors=factors)


# --- configuration --------------------------------------------------------------------------------------------------


def _settings_from(config: RiskConfig | None) -> RiskSettings:
    weights = dict(config.custom_weights) if config else {}
    thresholds = {**DEFAULT_THRESHOLDS, **(config.thresholds if config else {})}
    return RiskSettings(decision_weights={k: float(weights.get(k, w)) for k, w in DECISION_FACTORS.items()},
                        app_weights={k: float(weights.get(k, w)) for k, w in APP_FACTORS.items()},
                        thresholds=thresholds)


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _check_config(custom_weights: Any, thresholds: Any) -> None:
    problems: dict[str, list[str]] = {}
    if not isinstance(custom_weights, dict):
        problems["custom_weights"] = [_("A JSON object: factor → weight.")]
    else:
        for name, weight in custom_weights.items():
            if name not in FACTOR_NAMES:
                problems.setdefault("custom_weights", []).append(
                    _("Unknown factor %(n)r; factors: %(f)s.") % {"n": name, "f": ", ".join(FACTOR_NAMES)})
            elif not _is_number(weight) or not 0 <= weight <= MAX_WEIGHT:
                problems.setdefault("custom_weights", []).append(
                    _("The weight of %(n)s must be a number from 0 to %(m)d.") % {"n": name, "m": MAX_WEIGHT})
        if "custom_weights" not in problems:
            merged = _settings_from(RiskConfig(custom_weights=custom_weights, thresholds={}))
            for kind, weights in (("decision", merged.decision_weights), ("app", merged.app_weights)):
                if not any(w > 0 for w in weights.values()):
                    problems.setdefault("custom_weights", []).append(
                        _("At least one %(kind)s factor needs a weight above 0.") % {"kind": kind})
    if not isinstance(thresholds, dict):
        problems["thresholds"] = [_("A JSON object.")]
    else:
        for key, value in thresholds.items():
            if key not in DEFAULT_THRESHOLDS:
                problems.setdefault("thresholds", []).append(
                    _("Unknown key %(k)r; keys: %(f)s.") % {"k": key, "f": ", ".join(DEFAULT_THRESHOLDS)})
            elif key in LEVEL_KEYS and (not _is_number(value) or not 0 < value <= 1):
                problems.setdefault("thresholds", []).append(_("%(k)s must be a score in (0, 1].") % {"k": key})
            elif key not in LEVEL_KEYS and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                problems.setdefault("thresholds", []).append(_("%(k)s must be a whole number ≥ 1.") % {"k": key})
        if "thresholds" not in problems:
            merged = {**DEFAULT_THRESHOLDS, **thresholds}
            if not merged["medium"] < merged["high"] < merged["critical"]:
                problems["thresholds"] = [_("Levels must rise: medium < high < critical.")]
    if problems:
        raise InvalidInput(_("The risk configuration is not valid."), fields=problems)


def risk_config_check(*, custom_weights: Any, thresholds: Any) -> None:
    """Raise the 400 that ``risk_config_set`` would raise for these values."""
    _check_config(custom_weights, thresholds)


@transaction.atomic
def risk_config_set(*, app_id: Any, custom_weights: dict[str, float] | None = None,
                    thresholds: dict[str, float] | None = None, actor: Any = None) -> RiskConfig:
    """Create or replace an app's risk weights and thresholds (what is not given keeps its default)."""
    custom_weights = {} if custom_weights is None else custom_weights
    thresholds = {} if thresholds is None else thresholds
    _check_config(custom_weights, thresholds)
    app = Application.objects.filter(pk=app_id).first()
    if app is None:
        raise InvalidInput(fields={"app_id": [_("No such application.")]})
    config = RiskConfig.objects.select_for_update().filter(app=app).first()
    before = {"custom_weights": config.custom_weights, "thresholds": config.thresholds} if config else None
    config = config or RiskConfig(app=app)
    config.custom_weights, config.thresholds, config.updated_at = custom_weights, thresholds, timezone.now()
    if getattr(actor, "pk", None) is not None and hasattr(actor, "_meta"):
        config._history_user = actor
    config.save()
    audit_record(events.RISK_CONFIG_SET, action="update" if before else "create", target_type="risk_config",
                 target_id=config.pk, before=before,
                 after={"custom_weights": custom_weights, "thresholds": thresholds}, app_id=app.pk,
                 **({"actor_id": actor.pk} if getattr(actor, "pk", None) else {}))
    return config


# --- factors --------------------------------------------------------------------------------------------------------


def _rejection(proposals: int, rejected: int, window: str) -> tuple[float, str]:
    value = rejected / max(proposals, REJECTION_MIN_SAMPLE)
    return value, _("%(r)d rejected of %(p)d proposals in %(w)s") % {"r": rejected, "p": proposals, "w": window}


def _velocity(count: int, per_hour: float) -> tuple[float, str]:
    return count / per_hour, _("%(n)d decisions in the last hour (reference %(ref)d)") % {"n": count,
                                                                                           "ref": per_hour}


def _time_of_day(now: datetime) -> tuple[float, str]:
    hour = timezone.localtime(now).hour
    value = 1.0 if hour in NIGHT_HOURS else 0.5 if hour in LATE_HOURS else 0.0
    return value, _("proposed at %(h)02d:00 (nights 00-05 count fully, 22-23 half)") % {"h": hour}


def tenant_disputes(*, tenant_id: Any, now: datetime) -> int:
    """Disputed payments of the tenant's apps in the last 90 days, plus its ad budgets under dispute now."""
    payments = PaymentIntent.objects.filter(app__owner_id=tenant_id, status=PaymentIntent.Status.DISPUTED,
                                            updated_at__gte=now - DISPUTE_WINDOW).count()
    budgets = AdBudget.objects.filter(ad_account__tenant_id=tenant_id, status=AdBudget.Status.DISPUTED,
                                      closed_at__isnull=True).count()
    return payments + budgets


def _disputes(count: int) -> tuple[float, str]:
    return count / DISPUTES_FOR_MAX, _("%(n)d disputes (payments in 90 days, ad budgets now)") % {"n": count}


@cache
def _facts_sql() -> str:
    """Everything a decision's score reads, in one statement (it runs inside every proposal): the agent's week of
    counters, its last hour of decisions, whether it acted on the target before, the tenant's disputes and the
    app's risk configuration. Names come from the models, so the statement follows the catalog's tables."""
    quote = connection.ops.quote_name

    def t(model) -> str:
        return quote(model._meta.db_table)

    def c(model, name: str) -> str:
        return quote(model._meta.get_field(name).column)

    stats, decisions, intents, apps = t(AgentDailyStats), t(AgentDecision), t(PaymentIntent), t(Application)
    budgets, accounts, configs = t(AdBudget), t(AdAccount), t(RiskConfig)
    week = (f"FROM {stats} WHERE {c(AgentDailyStats, 'agent')} = %(agent)s "
            f"AND {c(AgentDailyStats, 'date')} > %(since_day)s AND {c(AgentDailyStats, 'date')} <= %(today)s")
    budget_join = f"{budgets} b JOIN {accounts} x ON x.{c(AdAccount, 'id')} = b.{c(AdBudget, 'ad_account')}"
    proposals = c(AgentDailyStats, "proposals_count")
    return (
        f"SELECT (SELECT COALESCE(SUM({proposals}), 0) {week}), "  # noqa: S608 - quoted model names; values are parameters
        f"(SELECT COALESCE(SUM({c(AgentDailyStats, 'rejected_count')}), 0) {week}), "
        f"(SELECT COUNT(*) FROM {decisions} WHERE {c(AgentDecision, 'agent')} = %(agent)s "
        f"AND {c(AgentDecision, 'created_at')} >= %(hour_ago)s), "
        f"(SELECT COUNT(*) FROM (SELECT 1 FROM {decisions} WHERE {c(AgentDecision, 'agent')} = %(agent)s "
        f"AND {c(AgentDecision, 'target_entity')} = %(target)s LIMIT 1) seen), "
        f"(SELECT COUNT(*) FROM {intents} p JOIN {apps} a ON a.{c(Application, 'id')} = p.{c(PaymentIntent, 'app')} "
        f"WHERE a.{c(Application, 'owner')} = %(tenant)s AND p.{c(PaymentIntent, 'status')} = %(disputed)s "
        f"AND p.{c(PaymentIntent, 'updated_at')} >= %(disputes_since)s), "
        f"(SELECT COUNT(*) FROM {budget_join} "
        f"WHERE x.{c(AdAccount, 'tenant')} = %(tenant)s AND b.{c(AdBudget, 'status')} = %(disputed)s "
        f"AND b.{c(AdBudget, 'closed_at')} IS NULL), "
        f"(SELECT {c(RiskConfig, 'custom_weights')} FROM {configs} WHERE {c(RiskConfig, 'app')} = %(app)s), "
        f"(SELECT {c(RiskConfig, 'thresholds')} FROM {configs} WHERE {c(RiskConfig, 'app')} = %(app)s)"
    )


_UUID = models.UUIDField()


def _json(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def _decision_facts(*, agent, app_id: Any, target_entity: str, now: datetime) -> tuple[dict[str, int], RiskConfig]:
    ops = connection.ops
    today = timezone.localdate(now)
    params = {
        "agent": _UUID.get_db_prep_value(agent.pk, connection),
        "tenant": _UUID.get_db_prep_value(agent.tenant_id, connection),
        "app": _UUID.get_db_prep_value(app_id, connection) if app_id else None,
        "since_day": ops.adapt_datefield_value(today - REJECTION_WINDOW), "today": ops.adapt_datefield_value(today),
        "hour_ago": ops.adapt_datetimefield_value(now - timedelta(hours=1)),
        "disputes_since": ops.adapt_datetimefield_value(now - DISPUTE_WINDOW),
        "target": target_entity, "disputed": PaymentIntent.Status.DISPUTED.value,
    }
    with connection.cursor() as cursor:
        cursor.execute(_facts_sql(), params)
        proposals, rejected, recent, seen, payments, budgets, weights, thresholds = cursor.fetchone()
    facts = {"proposals": int(proposals), "rejected": int(rejected), "recent": int(recent), "seen": int(seen),
             "disputes": int(payments) + int(budgets)}
    return facts, RiskConfig(custom_weights=_json(weights), thresholds=_json(thresholds))


def risk_assess_decision(*, agent, app_id: Any, target_entity: str, amount: int, amount_limit: int | None,
                         now: datetime | None = None) -> RiskAssessment:
    """The risk of one proposal, from the agent's history, the target, the amount, the hour and disputes, weighted
    by the app's configuration (one query)."""
    now = now or timezone.now()
    facts, config = _decision_facts(agent=agent, app_id=app_id, target_entity=target_entity, now=now)
    settings = _settings_from(config)
    thresholds = settings.thresholds
    reference = amount_limit if amount_limit else int(thresholds["amount_reference"])
    source = _("the agent's limit") if amount_limit else _("the reference amount")
    values: dict[str, tuple[float, str]] = {
        AMOUNT_VS_LIMIT: ((amount / reference) if reference else 1.0,
                          _("%(a)d cents of %(r)d (%(s)s)") % {"a": amount, "r": reference, "s": source}),
        REJECTION_RATE: _rejection(facts["proposals"], facts["rejected"], _("7 days")),
        VELOCITY: _velocity(facts["recent"], thresholds["velocity_per_hour"]),
        NEW_TARGET: (0.0, _("acted on before")) if facts["seen"] else (1.0, _("first decision on this target")),
        TIME_OF_DAY: _time_of_day(now),
        DISPUTE_HISTORY: _disputes(facts["disputes"]),
    }
    return risk_combine(values, settings.decision_weights, thresholds)


# --- periodic scores ------------------------------------------------------------------------------------------------


@dataclass
class _Tally:
    total: int = 0
    rejected: int = 0
    day_total: int = 0
    day_risk_sum: float = 0.0
    hour_total: int = 0

    def add(self, other: _Tally) -> None:
        self.total += other.total
        self.rejected += other.rejected
        self.day_total += other.day_total
        self.day_risk_sum += other.day_risk_sum
        self.hour_total += other.hour_total


def _app_assessment(tally: _Tally, disputes: int, settings: RiskSettings) -> RiskAssessment:
    mean = tally.day_risk_sum / tally.day_total if tally.day_total else 0.0
    values = {
        DECISION_RISK: (mean, _("mean risk %(m).2f of %(n)d decisions in 24 h") % {"m": mean, "n": tally.day_total}),
        REJECTION_RATE: _rejection(tally.total, tally.rejected, _("7 days")),
        VELOCITY: _velocity(tally.hour_total, settings.thresholds["velocity_per_hour"]),
        DISPUTE_HISTORY: _disputes(disputes),
    }
    return risk_combine(values, settings.app_weights, settings.thresholds)


def _store(app_id: uuid.UUID, agent_id: uuid.UUID | None, assessment: RiskAssessment, now: datetime) -> None:
    factors = assessment.factors_json()
    updated = RiskScore.objects.filter(app_id=app_id, agent_id=agent_id).update(
        score=assessment.score, level=assessment.level, factors=factors, calculated_at=now)
    if not updated:
        RiskScore.objects.create(app_id=app_id, agent_id=agent_id, score=assessment.score, level=assessment.level,
                                 factors=factors, calculated_at=now)
    RiskHistory.objects.create(app_id=app_id, agent_id=agent_id, score=assessment.score, level=assessment.level,
                               factors=factors, created_at=now)


@transaction.atomic
def risk_scores_recompute(*, now: datetime | None = None) -> int:
    """Recompute the score of every app with agent decisions in the last 7 days or a score already (an idle app
    decays to its quiet score), and of each of its agents; append each to ``risk_history``. Returns how many
    scores were written. One transaction: the job that runs it is retried as a whole."""
    now = now or timezone.now()
    rows = (AgentDecision.objects.filter(created_at__gte=now - REJECTION_WINDOW, app__isnull=False)
            .values("app_id", "agent_id")
            .annotate(total=Count("id"),
                      rejected=Count("id", filter=Q(outcome=AgentDecision.Outcome.REJECTED)),
                      day_total=Count("id", filter=Q(created_at__gte=now - timedelta(days=1))),
                      day_risk=Avg("risk_score", filter=Q(created_at__gte=now - timedelta(days=1))),
                      hour_total=Count("id", filter=Q(created_at__gte=now - timedelta(hours=1))))
            .order_by())
    per_agent: dict[uuid.UUID, dict[uuid.UUID, _Tally]] = defaultdict(dict)
    for row in rows:
        per_agent[row["app_id"]][row["agent_id"]] = _Tally(
            total=row["total"], rejected=row["rejected"], day_total=row["day_total"],
            day_risk_sum=(row["day_risk"] or 0.0) * row["day_total"], hour_total=row["hour_total"])
    for app_id, agent_id in RiskScore.objects.values_list("app_id", "agent_id"):
        agents = per_agent[app_id]
        if agent_id is not None:
            agents.setdefault(agent_id, _Tally())
    owners = dict(Application.objects.filter(pk__in=list(per_agent)).values_list("pk", "owner_id"))
    configs = {c.app_id: c for c in RiskConfig.objects.filter(app_id__in=list(per_agent))}
    written = 0
    for app_id in sorted(per_agent, key=str):
        if app_id not in owners:
            continue
        settings = _settings_from(configs.get(app_id))
        disputes = tenant_disputes(tenant_id=owners[app_id], now=now)
        app_tally = _Tally()
        for agent_id in sorted(per_agent[app_id], key=str):
            tally = per_agent[app_id][agent_id]
            app_tally.add(tally)
            _store(app_id, agent_id, _app_assessment(tally, disputes, settings), now)
            written += 1
        _store(app_id, None, _app_assessment(app_tally, disputes, settings), now)
        written += 1
    audit_record(events.RISK_SCORES_RECOMPUTED, action="recompute", target_type="risk_scores", target_id=None,
                 metadata={"scores": written, "apps": len(owners),
                           # The rows it appended to risk_history (all stamped ``now``), for verify_all to prove.
                           "history": group_record(RiskHistory, created_at=now)}, actor_type="system")
    return written
