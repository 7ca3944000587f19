"""The infrastructure app's error codes (rendered in the one JSON error shape by the API layer)."""
from __future__ import annotations

from core.errors import Locked


class KillSwitchActive(Locked):
    """423: a kill switch in force halts the work (``infrastructure.services.killswitches``)."""

    code = "kill_switch_active"
