from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IdentityConfig(AppConfig):
    name = "identity"
    verbose_name = _("Identity and applications")

    def ready(self) -> None:
        from identity import checks, events, jobs, schema  # noqa: F401 - imported to register what they declare
