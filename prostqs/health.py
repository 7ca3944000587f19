"""GET /healthz: is the database answering, and Redis when one is configured?"""
from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

logger = logging.getLogger("prostqs.health")


def check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means "not ok"; the reason goes to the log
        logger.warning("health: database check failed: %s", exc)
        return "error"
    return "ok"


def check_redis() -> str:
    if not settings.REDIS_URL:
        return "disabled"
    import redis

    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # noqa: BLE001 - as above
        logger.warning("health: redis check failed: %s", exc)
        return "error"
    return "ok"


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    body = {"status": "ok", "database": check_database(), "redis": check_redis()}
    failing = [part for part in ("database", "redis") if body[part] == "error"]
    if failing:
        body["status"] = "error"
        body["failing"] = failing
        return JsonResponse(body, status=503)
    return JsonResponse(body)
