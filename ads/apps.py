from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AdsConfig(AppConfig):
    name = "ads"
    verbose_name = _("Ads")

    def ready(self) -> None:
        from ads import events, integrity, jobs  # noqa: F401 - registers event types, integrity verifiers, jobs

        jobs.register()
