"""Input checks shared by the services of several apps."""
from __future__ import annotations

from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext as _

from core.errors import InvalidInput

# The shortest reason a state change accepts: enough to say something, whoever makes the change.
MIN_REASON = 3


def clean_reason(reason: Any, *, min_length: int = MIN_REASON, max_length: int | None = None,
                 message: str | None = None, detail: str | None = None) -> str:
    """The reason given for a state change, as it is stored and audited: its text without NUL (which no
    PostgreSQL text holds), trimmed, and cut at ``max_length``.

    Shorter than ``min_length`` (or not text at all): ``InvalidInput`` with the code ``reason_required`` on the
    field ``reason``, saying ``message`` ("Give a reason." unless the caller says it better) and ``detail`` (the
    minimum length, in Django's own words, unless the caller says it better)."""
    text = str(reason).replace("\x00", "").strip() if isinstance(reason, str | Promise) else ""
    if len(text) < min_length:
        raise InvalidInput(message or _("Give a reason."), code="reason_required",
                           fields={"reason": [detail or _("Ensure this field has at least %(n)d characters.")
                                              % {"n": min_length}]})
    return text[:max_length] if max_length else text
