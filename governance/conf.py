"""Governance settings, read from django.conf.settings with their defaults, parsed and checked once.

=====================================  ==================  ===========================================================
setting (environment variable)         default             meaning
=====================================  ==================  ===========================================================
POLICY_DEFAULT_EFFECT                  ``deny``            what happens when no active policy matches
POLICY_CACHE_CHECK_MS                  ``500``             how often a process checks that its compiled policies are
                                                           current (one small aggregate query)
AUTONOMY_DEFAULT_LEVEL                 ``0``               level of an agent without an autonomy profile
APPROVAL_TTL_SECONDS                   ``86400``           how long a request waits before it expires
APPROVAL_IMPACT_AMOUNTS                ``1,100000,         amounts in cents from which an action is low, medium, high,
                                       1000000,10000000``  critical
APPROVAL_IMPACT_RISKS                  ``0.25,0.5,0.75,    risk scores from which an action is low, medium, high,
                                       0.9``               critical
APPROVAL_QUORUM                        ``*.critical=2``    approvals needed: ``domain.impact=n`` pairs, ``*`` for any
                                                           domain; the most specific pair wins; otherwise 1
=====================================  ==================  ===========================================================
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

from governance.models.approvals import IMPACT_ORDER
from governance.models.autonomy import AutonomyLevel
from governance.models.policies import PolicyEffect

LEVELS = IMPACT_ORDER[1:]  # low, medium, high, critical: the thresholds name where each starts


@dataclass(frozen=True)
class GovernanceSettings:
    default_effect: str
    cache_check_seconds: float
    autonomy_default_level: int
    approval_ttl_seconds: int
    impact_amounts: tuple[int, ...]
    impact_risks: tuple[float, ...]
    quorum: dict[tuple[str, str], int]


def _numbers(value, kind, name: str) -> tuple:
    items = value.split(",") if isinstance(value, str) else list(value)
    try:
        numbers = tuple(kind(str(i).strip()) for i in items)
    except ValueError:
        raise ImproperlyConfigured(f"{name}: four comma-separated numbers expected, got {value!r}") from None
    if len(numbers) != 4 or list(numbers) != sorted(numbers) or numbers[0] < 0:
        raise ImproperlyConfigured(f"{name}: four ascending non-negative numbers (low, medium, high, critical) "
                                   f"expected, got {value!r}")
    return numbers


def _quorum(value) -> dict[tuple[str, str], int]:
    if isinstance(value, dict):
        pairs = [(str(k), v) for k, v in value.items()]
    else:
        pairs = []
        for item in filter(None, (p.strip() for p in str(value).split(","))):
            key, sep, count = item.partition("=")
            if not sep:
                raise ImproperlyConfigured(f"APPROVAL_QUORUM: {item!r} is not domain.impact=n")
            pairs.append((key.strip(), count.strip()))
    out = {}
    for key, count in pairs:
        domain, sep, impact = key.rpartition(".")
        if not sep or not domain or impact not in IMPACT_ORDER:
            raise ImproperlyConfigured(f"APPROVAL_QUORUM: {key!r} must be <domain or *>.<impact>")
        try:
            number = int(count)
        except (TypeError, ValueError):
            raise ImproperlyConfigured(f"APPROVAL_QUORUM: {key!r} needs a whole number") from None
        if not 1 <= number <= 10:
            raise ImproperlyConfigured(f"APPROVAL_QUORUM: {key!r} must need 1 to 10 approvals")
        out[(domain, impact)] = number
    return out


@lru_cache(maxsize=1)
def get() -> GovernanceSettings:
    effect = getattr(settings, "POLICY_DEFAULT_EFFECT", PolicyEffect.DENY)
    if effect not in PolicyEffect.values:
        raise ImproperlyConfigured(f"POLICY_DEFAULT_EFFECT must be one of {', '.join(PolicyEffect.values)}")
    level = int(getattr(settings, "AUTONOMY_DEFAULT_LEVEL", AutonomyLevel.FORBIDDEN))
    if level not in AutonomyLevel.values:
        raise ImproperlyConfigured("AUTONOMY_DEFAULT_LEVEL must be 0, 1, 2 or 3")
    ttl = int(getattr(settings, "APPROVAL_TTL_SECONDS", 86400))
    if ttl < 60:
        raise ImproperlyConfigured("APPROVAL_TTL_SECONDS must be at least 60")
    check_ms = float(getattr(settings, "POLICY_CACHE_CHECK_MS", 500))
    if check_ms < 0:
        raise ImproperlyConfigured("POLICY_CACHE_CHECK_MS must not be negative")
    return GovernanceSettings(
        default_effect=effect,
        cache_check_seconds=check_ms / 1000,
        autonomy_default_level=level,
        approval_ttl_seconds=ttl,
        impact_amounts=_numbers(getattr(settings, "APPROVAL_IMPACT_AMOUNTS", "1,100000,1000000,10000000"), int,
                                "APPROVAL_IMPACT_AMOUNTS"),
        impact_risks=_numbers(getattr(settings, "APPROVAL_IMPACT_RISKS", "0.25,0.5,0.75,0.9"), float,
                              "APPROVAL_IMPACT_RISKS"),
        quorum=_quorum(getattr(settings, "APPROVAL_QUORUM", "*.critical=2")),
    )


def _reset(**kwargs) -> None:
    get.cache_clear()


setting_changed.connect(_reset)


@register()
def check_governance_settings(app_configs, **kwargs) -> list[Error]:
    try:
        get()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="governance.E001")]
    return []
