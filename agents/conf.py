"""Settings of the agents app, read from django.conf.settings with their defaults.

=============================  =========  ===================================================================
setting (environment variable)  default    meaning
=============================  =========  ===================================================================
AGENT_DECISION_TTL_SECONDS      ``86400``  how long a decision waits for approval before it expires (rejected)
RISK_RECOMPUTE_SECONDS          ``900``    how often Celery beat queues the recomputation of the risk scores
=============================  =========  ===================================================================
"""
from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, register

MIN_TTL = 60
MAX_TTL = 30 * 24 * 3600


def decision_ttl_seconds() -> int:
    return int(getattr(settings, "AGENT_DECISION_TTL_SECONDS", 86400))


@register()
def check_agents_settings(app_configs, **kwargs) -> list[Error]:
    ttl = decision_ttl_seconds()
    if not MIN_TTL <= ttl <= MAX_TTL:
        return [Error(f"AGENT_DECISION_TTL_SECONDS must be between {MIN_TTL} and {MAX_TTL}", id="agents.E001")]
    return []
