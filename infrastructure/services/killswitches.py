"""Kill switches: "is scope X halted?" on every money and agent path."""
from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext as _

from infrastructure.models import KillSwitch
from prostqs.errors import Locked


class KillSwitchActive(Locked):
    code = "kill_switch_active"


def killswitch_halted_scopes(*scopes: str) -> list[KillSwitch]:
    """The switches in force among ``scopes`` and ``all``."""
    wanted = {KillSwitch.Scope.ALL, *scopes}
    now = timezone.now()
    return [s for s in KillSwitch.objects.filter(scope__in=wanted, active=True) if s.is_in_force(now)]


def killswitch_is_halted(scope: str) -> bool:
    return bool(killswitch_halted_scopes(scope))


def killswitch_ensure_running(*scopes: str) -> None:
    """Raise ``KillSwitchActive`` (HTTP 423) when any of ``scopes`` or ``all`` is halted."""
    halted = killswitch_halted_scopes(*scopes)
    if halted:
        switch = sorted(halted, key=lambda s: s.scope != KillSwitch.Scope.ALL)[0]
        raise KillSwitchActive(
            _("Halted by the %(scope)s kill switch: %(reason)s") % {"scope": switch.scope, "reason": switch.reason},
            extra={"scope": switch.scope},
        )
