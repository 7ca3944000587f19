"""Phone numbers: E.164 normalisation (the phone is the identity), prefixes for SMS-pumping limits, masking."""
from __future__ import annotations

import phonenumbers
from django.utils.translation import gettext as _

from core.errors import InvalidInput


def phone_normalize(raw: str, *, field: str = "phone") -> str:
    """``raw`` in E.164 (``+5511987654321``); an invalid or non-international number is a 400 naming ``field``."""
    text = (raw or "").strip()
    if not text or len(text) > 32:
        raise InvalidInput(_("Invalid phone number."), code="invalid_phone",
                           fields={field: [_("Enter a phone number in international format, e.g. +5511987654321.")]})
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_valid_number(parsed):
        raise InvalidInput(_("Invalid phone number."), code="invalid_phone",
                           fields={field: [_("Enter a valid phone number in international format, "
                                             "e.g. +5511987654321.")]})
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def phone_prefix(e164: str) -> str:
    """All but the last four digits: numbers sharing it are one block of an operator's range."""
    return e164[:-4]


def phone_mask(e164: str) -> str:
    """For audit records and logs: the country and the last two digits only."""
    return e164[:3] + "*" * max(0, len(e164) - 5) + e164[-2:]
