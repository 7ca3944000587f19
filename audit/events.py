"""The one registry of audit event types.

Each app declares its types once, at import of its ``events`` module (loaded from ``AppConfig.ready()``)::

    PAYMENT_CONFIRMED = register("PAYMENT_CONFIRMED", "A payment intent was confirmed by the provider.")

Recording an unknown type and registering a type twice both fail loudly.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured

_NAME = re.compile(r"^[A-Z][A-Z0-9_]{2,63}$")


class UnknownEventType(LookupError):
    pass


@dataclass(frozen=True)
class EventType:
    name: str
    description: str


_REGISTRY: dict[str, EventType] = {}


def register(name: str, description: str) -> str:
    if not _NAME.match(name):
        raise ImproperlyConfigured(f"audit event type {name!r} must be UPPER_SNAKE_CASE, 3 to 64 characters")
    if name in _REGISTRY:
        raise ImproperlyConfigured(f"audit event type {name!r} is registered twice")
    _REGISTRY[name] = EventType(name, description)
    return name


def get(name: str) -> EventType:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownEventType(f"audit event type {name!r} is not registered in audit.events") from None


def all_types() -> list[EventType]:
    return sorted(_REGISTRY.values(), key=lambda t: t.name)


# The audit app's own types.
AUDIT_CHECKPOINT_SIGNED = register("AUDIT_CHECKPOINT_SIGNED", "A signed checkpoint of the chain head was written.")
AUDIT_VERIFIED = register("AUDIT_VERIFIED", "The audit chain was verified from the console.")
