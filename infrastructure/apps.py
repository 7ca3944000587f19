from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InfrastructureConfig(AppConfig):
    name = "infrastructure"
    verbose_name = _("Infrastructure")

    def ready(self) -> None:
        from django.conf import settings
        from django.core.exceptions import ImproperlyConfigured

        from infrastructure import crypto, events, handlers  # noqa: F401 - registers audit types and job types

        # Refuse to start on a malformed keyring rather than on the first secret read.
        crypto.keyring()
        visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
        longest = max(settings.JOBS_LEASE_SECONDS, settings.JOBS_DISPATCH_SECONDS)
        if visibility <= longest:
            # Redis would hand a still-running task to a second worker.
            raise ImproperlyConfigured(
                f"CELERY_VISIBILITY_TIMEOUT ({visibility} s) must exceed JOBS_LEASE_SECONDS and "
                f"JOBS_DISPATCH_SECONDS ({longest} s)")
