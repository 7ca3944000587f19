from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProstqsConfig(AppConfig):
    """The composition root: holds commands that know every app (seed_demo, verify_all)."""

    name = "prostqs"
    verbose_name = _("PROST-QS")

    def ready(self) -> None:
        from prostqs import probe  # noqa: F401 - registers the queue_probe job and its audit event
        from prostqs.api import refuse_unknown_fields

        refuse_unknown_fields()
