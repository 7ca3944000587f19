"""Where payouts are sent. ``BILLING_PAYOUT_BACKEND`` names the class (a dotted path).

A backend's ``send`` returns a :class:`PayoutResult` (sent, or refused for good with a reason) or raises
:class:`PayoutBackendUnavailable` for a transient failure, after which the ``payout_send`` job is retried. The payout
id is passed as the idempotency key, so a retried send never pays twice.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class PayoutResult:
    sent: bool
    reference: str = ""
    failure_reason: str = ""


class PayoutBackendUnavailable(Exception):
    """The destination system could not be reached; try again later."""


class PayoutBackend(Protocol):
    def send(self, *, payout_id: str, amount: int, currency: str, destination: str,
             idempotency_key: str) -> PayoutResult: ...


class LocalPayoutBackend:
    """The offline stand-in: every payout is sent at once, with a ``po_local_…`` reference."""

    def send(self, *, payout_id, amount, currency, destination, idempotency_key) -> PayoutResult:
        return PayoutResult(sent=True, reference=f"po_local_{secrets.token_hex(12)}")


def payout_backend() -> PayoutBackend:
    return import_string(settings.BILLING_PAYOUT_BACKEND)()
