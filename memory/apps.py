from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MemoryConfig(AppConfig):
    """Institutional memory, above governance: what was decided, for how long it stands and what came of it.
    Governance reaches it only through the callbacks registered here."""

    name = "memory"
    label = "memory"
    verbose_name = _("Institutional memory")

    def ready(self) -> None:
        from memory import events, integrity, jobs  # noqa: F401 - registers audit event types, job handlers, verifiers
        from memory.services import listeners

        listeners.register()
