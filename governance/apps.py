from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = _("Policy and governance")

    def ready(self) -> None:
        from governance import conf, events, jobs  # noqa: F401 - registers checks, event types, job handlers
