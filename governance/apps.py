from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = _("Policy and governance")

    def ready(self) -> None:
        # Registers checks, event types, job handlers and integrity verifiers.
        from governance import conf, events, integrity, jobs  # noqa: F401
