from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = _("Audit")

    def ready(self) -> None:
        from audit import context, events  # noqa: F401 - the audit app's own event types register on import

        context.connect_celery_signals()
