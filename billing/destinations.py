"""Payout destinations: PIX keys and Brazilian bank accounts, validated and normalised.

Accepted input (a JSON object)::

    {"type": "pix", "key": "123.456.789-09"}                     # key_type optional: cpf, cnpj, email, phone, random
    {"type": "bank_account", "bank_code": "001", "branch": "1234", "account_number": "12345-6",
     "account_type": "checking", "holder_document": "123.456.789-09"}

Stored as one normalised string (``pix:cpf:12345678909``, ``bank:001:1234:123456:checking:cpf:12345678909``);
:func:`mask` gives the form shown in audit records and the console.
"""
from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from typing import Any

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.utils.translation import gettext as _

from billing import errors
from core.errors import InvalidInput

PIX_KEY_TYPES = ("cpf", "cnpj", "email", "phone", "random")
ACCOUNT_TYPES = ("checking", "savings", "payment")


@dataclass(frozen=True)
class Destination:
    type: str  # "pix" or "bank_account"
    normalised: str


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(_("The payout destination is not valid."), code=errors.INVALID_DESTINATION,
                        fields={f"destination.{field}": [message]})


def _digits(value: str) -> str:
    return re.sub(r"[.\-/\s]", "", value)


def cpf_valid(digits: str) -> bool:
    if not re.fullmatch(r"\d{11}", digits) or digits == digits[0] * 11:
        return False
    for size in (9, 10):
        total = sum(int(d) * w for d, w in zip(digits[:size], range(size + 1, 1, -1), strict=True))
        check = (total * 10) % 11 % 10
        if check != int(digits[size]):
            return False
    return True


def cnpj_valid(digits: str) -> bool:
    if not re.fullmatch(r"\d{14}", digits) or digits == digits[0] * 14:
        return False
    for size in (12, 13):
        weights = [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2][-size:]
        total = sum(int(d) * w for d, w in zip(digits[:size], weights, strict=True))
        remainder = total % 11
        check = 0 if remainder < 2 else 11 - remainder
        if check != int(digits[size]):
            return False
    return True


def _document(value: Any, field: str) -> str:
    digits = _digits(value) if isinstance(value, str) else ""
    if len(digits) == 11 and cpf_valid(digits):
        return f"cpf:{digits}"
    if len(digits) == 14 and cnpj_valid(digits):
        return f"cnpj:{digits}"
    raise _invalid(field, _("A valid CPF or CNPJ."))


def _pix_key(key: str, key_type: str | None) -> str:
    key = key.strip()
    if key_type is None:
        if "@" in key:
            key_type = "email"
        elif key.startswith("+"):
            key_type = "phone"
        elif re.fullmatch(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", key):
            key_type = "random"
        elif len(_digits(key)) == 11:
            key_type = "cpf"
        elif len(_digits(key)) == 14:
            key_type = "cnpj"
        else:
            raise _invalid("key", _("Not a CPF, CNPJ, e-mail, phone (+55…) or random PIX key."))
    if key_type == "cpf":
        if not cpf_valid(_digits(key)):
            raise _invalid("key", _("Not a valid CPF."))
        return f"cpf:{_digits(key)}"
    if key_type == "cnpj":
        if not cnpj_valid(_digits(key)):
            raise _invalid("key", _("Not a valid CNPJ."))
        return f"cnpj:{_digits(key)}"
    if key_type == "email":
        try:
            EmailValidator()(key)
        except ValidationError:
            raise _invalid("key", _("Not a valid e-mail address.")) from None
        if len(key) > 77:  # the PIX directory's limit for e-mail keys
            raise _invalid("key", _("E-mail keys have at most 77 characters."))
        return f"email:{key.lower()}"
    if key_type == "phone":
        try:
            number = phonenumbers.parse(key, "BR")
        except phonenumbers.NumberParseException:
            raise _invalid("key", _("Not a valid phone number.")) from None
        if not phonenumbers.is_valid_number(number) or number.country_code != 55:
            raise _invalid("key", _("PIX phone keys are valid Brazilian numbers (+55…)."))
        return f"phone:{phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)}"
    if key_type == "random":
        try:
            value = uuid.UUID(key)
        except ValueError:
            raise _invalid("key", _("Random PIX keys are UUIDs.")) from None
        return f"random:{value}"
    raise _invalid("key_type", _("One of: %(types)s.") % {"types": ", ".join(PIX_KEY_TYPES)})


def destination_parse(value: Any) -> Destination:
    if not isinstance(value, dict):
        raise _invalid("type", _("An object with a type: pix or bank_account."))
    kind = value.get("type")
    if kind == "pix":
        key, key_type = value.get("key"), value.get("key_type")
        if not isinstance(key, str) or not key.strip() or len(key) > 140:
            raise _invalid("key", _("This field is required."))
        if key_type is not None and key_type not in PIX_KEY_TYPES:
            raise _invalid("key_type", _("One of: %(types)s.") % {"types": ", ".join(PIX_KEY_TYPES)})
        return Destination("pix", "pix:" + _pix_key(key, key_type))
    if kind == "bank_account":
        bank = str(value.get("bank_code") or "")
        branch = _digits(str(value.get("branch") or ""))
        number = _digits(str(value.get("account_number") or ""))
        account_type = value.get("account_type") or "checking"
        if not re.fullmatch(r"\d{3}|\d{8}", bank):
            raise _invalid("bank_code", _("A 3-digit bank code (COMPE) or an 8-digit ISPB."))
        if not re.fullmatch(r"\d{4,5}", branch):
            raise _invalid("branch", _("A branch of 4 digits (and an optional check digit)."))
        if not re.fullmatch(r"\d{2,20}", number):
            raise _invalid("account_number", _("An account number of 2 to 20 digits (check digit included)."))
        if account_type not in ACCOUNT_TYPES:
            raise _invalid("account_type", _("One of: %(types)s.") % {"types": ", ".join(ACCOUNT_TYPES)})
        holder = _document(value.get("holder_document"), "holder_document")
        return Destination("bank_account", f"bank:{bank}:{branch}:{number}:{account_type}:{holder}")
    raise _invalid("type", _("Must be pix or bank_account."))


def mask(normalised: str) -> str:
    """The destination with enough hidden to keep personal data out of logs and audit records."""
    parts = normalised.split(":")
    if parts[0] == "pix" and len(parts) >= 3:
        kind, key = parts[1], ":".join(parts[2:])
        if kind == "email":
            name, _at, domain = key.partition("@")
            return f"pix:email:{name[:1]}***@{domain}"
        if kind == "random":
            return f"pix:random:{key[:8]}…"
        return f"pix:{kind}:***{key[-4:]}"
    if parts[0] == "bank" and len(parts) >= 5:
        return f"bank:{parts[1]}:{parts[2]}:***{parts[3][-3:]}:{parts[4]}"
    return "***"


def destination_digest(payout_id: Any, normalised: str) -> str:
    """What a payout's request event records of its full destination beside the mask: SHA-256 of
    ``"<payout id>:<normalised destination>"`` (salted by the id, so equal destinations do not look alike). It lets
    ``verify_all`` prove the destination the payout is sent to is the one requested."""
    return hashlib.sha256(f"{payout_id}:{normalised}".encode()).hexdigest()
