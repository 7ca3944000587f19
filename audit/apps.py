from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = _("Audit")

    def ready(self) -> None:
        # The audit app's own event types and integrity verifiers register on import.
        from audit import context, events, integrity  # noqa: F401

        context.connect_celery_signals()
