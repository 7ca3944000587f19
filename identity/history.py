"""Who made a change, for django-simple-history.

An app-authenticated API request's ``request.user`` is an ``AppPrincipal``, not a ``User``: the historical row's
``history_user`` foreign key can only hold a user, so for apps it stays empty (the audit event names the app).
Every model of ours with history passes ``HistoricalRecords(get_user=history_user)``.
"""
from __future__ import annotations

from typing import Any


def history_user(request: Any = None, **kwargs: Any) -> Any:
    from django.contrib.auth import get_user_model

    user = getattr(request, "user", None) if request is not None else None
    return user if isinstance(user, get_user_model()) and user.pk is not None else None
