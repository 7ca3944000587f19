from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AdsConfig(AppConfig):
    name = "ads"
    verbose_name = _("Ads")

    def ready(self) -> None:
        from ads import events, jobs  # noqa: F401 - registers audit event types and job handlers

        jobs.register()
