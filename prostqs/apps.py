from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProstqsConfig(AppConfig):
    """The composition root: the API's plumbing switched on, and the commands that know every app (seed_demo,
    db_roles)."""

    name = "prostqs"
    verbose_name = _("PROST-QS")

    def ready(self) -> None:
        from django.urls import register_converter

        from core.api import TextConverter, read_bodies_before_views
        from prostqs import probe  # noqa: F401 - registers the queue probe job

        read_bodies_before_views()
        register_converter(TextConverter, "text")
