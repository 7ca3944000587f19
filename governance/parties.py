"""The parties of an approval request: the people on whose behalf it acts, who therefore never decide it.

Governance sits below the apps whose work waits for approval, so it cannot find those people itself: whoever
creates a request names them, ``approval_request_create(on_behalf_of=[(user_id, relation), …])`` with a relation
of ``PartyRelation`` (the requester, when a person, is added by governance). Work that one party runs through
another app's services, such as an agent's decision executed by its domain, opens
``approval_parties_scope(parties)`` around that call: a request the domain opens inside it (a payout above the
approval threshold) gets those parties too, although the domain knows nothing of agents. Scopes nest and add up.
"""
from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from typing import Any

from django.utils.translation import gettext as _

from core.errors import InvalidInput
from governance.models import PartyRelation

Party = tuple[uuid.UUID, str]

_scoped: ContextVar[tuple[Party, ...]] = ContextVar("approval_parties", default=())


def parties_clean(value: Any, *, field: str = "on_behalf_of") -> list[Party]:
    """``(user id, relation)`` pairs, each once, in the order given; anything else is a 400 on ``field``."""
    if value is None:
        return []
    if isinstance(value, (str, bytes, dict)) or not isinstance(value, Iterable):
        raise InvalidInput(fields={field: [_("A list of (person id, relation) pairs.")]})
    cleaned: list[Party] = []
    for item in value:
        try:
            raw_id, relation = item
            user_id = raw_id if isinstance(raw_id, uuid.UUID) else uuid.UUID(str(raw_id))
        except (TypeError, ValueError):
            raise InvalidInput(fields={field: [_("A list of (person id, relation) pairs.")]}) from None
        if relation not in PartyRelation.values:
            raise InvalidInput(fields={field: [_("A relation is one of %(r)s.")
                                               % {"r": ", ".join(PartyRelation.values)}]})
        if (user_id, relation) not in cleaned:
            cleaned.append((user_id, relation))
    return cleaned


def scoped_parties() -> tuple[Party, ...]:
    """The parties of the scopes open around the current call (innermost last)."""
    return _scoped.get()


@contextlib.contextmanager
def approval_parties_scope(parties: Iterable[Party]) -> Iterator[tuple[Party, ...]]:
    """Every approval request created inside the block also acts on behalf of ``parties``."""
    token = _scoped.set((*_scoped.get(), *parties_clean(parties)))
    try:
        yield _scoped.get()
    finally:
        _scoped.reset(token)
